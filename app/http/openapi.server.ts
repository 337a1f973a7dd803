import type { VideoPrices } from "~/services/money/pricing.server";
import { schemas } from "./openapi-schemas.server";

// The OpenAPI 3.1 description of the JSON API, served at /api/openapi.json. The one place the
// API's answers are described; tests/integration/openapi.test.ts validates real answers from the
// built server against it, and fails for an answer (route + status) it does not describe.

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: object, description: string) => ({ description, content: { "application/json": { schema } } });
const err = (description: string, schema = "Error") => json(ref(schema), description);

const unauthorized = err("No session and no key, or a missing, malformed, unknown or revoked key (`invalid_api_key`).", "Unauthorized");
const rateLimited = {
  ...err("Too many requests: the per-user generation limit, the running-videos limit, or the per-key request limit. See Retry-After.", "RateLimited"),
  headers: { "Retry-After": { schema: { type: "integer" } } },
};
const tooLarge = err("`payload_too_large`: the body is over 64 KB (refused before it is read).");
const crossOrigin = "`cross_origin_request`: a request with an Origin (or Referer) of another site.";
const either = [{ bearerAuth: [] }, { sessionCookie: [] }];
const sessionOnly = [{ sessionCookie: [] }];
const idParam = (description: string, schema: object) => ({ name: "id", in: "path", required: true, description, schema });
const idempotencyKey = {
  name: "Idempotency-Key",
  in: "header",
  required: false,
  description: "8–200 characters. The same key again answers the first job (200) and charges once; with a different request: 422 `idempotency_key_reused`.",
  schema: { type: "string", minLength: 8, maxLength: 200 },
};
const generationBody = (schema: string) => ({
  required: true,
  content: { "application/json": { schema: ref(schema) }, "application/x-www-form-urlencoded": { schema: ref(schema) } },
});

function generationAnswers(created: "201" | "202") {
  return {
    [created]: json(ref("JobAnswer"), created === "201" ? "The image is ready (its hold posted: charged)." : "The video is queued; poll its statusUrl."),
    "200": json(ref("JobAnswer"), "A replay (the same Idempotency-Key): the first job as it is now; nothing new was charged."),
    "400": err("`invalid_json` or `invalid_form`: the body cannot be read."),
    "401": unauthorized,
    "402": json(ref("PaymentRequired"), "`insufficient_credits` (the balance), or `key_limit_reached` (the key's monthly limit)."),
    "403": err(`\`account_flagged\`: the account is on hold. ${crossOrigin}`),
    "413": tooLarge,
    "415": err("`unsupported_media_type`: send JSON or a form."),
    "422": json(ref("ValidationError"), "`invalid_request` (each problem in `issues`) or `idempotency_key_reused`."),
    "429": rateLimited,
    "503": err("`database_busy`: the database stayed locked; nothing was charged. Retry after Retry-After."),
  };
}

/** How a video is priced, with this server's figures (VIDEO_COST, VIDEO_COST_1080P, VIDEO_COST_SECONDS). */
function videoPricing(prices: Pick<VideoPrices, "perSeconds" | "perClip">): string {
  const figures = Object.entries(prices.perClip).map(([r, credits]) => `${credits} credits at ${r}`).join(", ");
  return (
    `The price follows the clip's length: here ${figures} per ${prices.perSeconds} seconds, other lengths pro rata, ` +
    "rounded up to a whole credit. The answer's `job.cost` is what this clip holds, and is charged only if it succeeds; a failed video costs nothing."
  );
}

const checkoutBody = {
  type: "object",
  properties: {
    pack: { type: "string", maxLength: 32, description: "A pack id; not with plan." },
    plan: { type: "string", maxLength: 32, description: "A plan id; not with pack." },
    token: { type: "string", maxLength: 100 },
    savePaymentMethod: { description: "`on` (a form) or `true` (JSON): save the card for auto-recharge (setup_future_usage=off_session)." },
  },
};

const paths = (prices: Pick<VideoPrices, "perSeconds" | "perClip">) => ({
  "/api/credits": {
    get: {
      summary: "The caller's balance and credits on hold",
      security: either,
      responses: { "200": json(ref("Credits"), "The balance."), "401": unauthorized, "429": rateLimited },
    },
  },
  "/api/generate-image": {
    post: {
      summary: "Generate an image within the request",
      security: either,
      parameters: [idempotencyKey],
      requestBody: generationBody("ImageRequest"),
      responses: { ...generationAnswers("201"), "502": err("`generation_failed`: the generator failed; the hold was voided (nothing charged).", "GenerationFailed") },
    },
  },
  "/api/generate-video": {
    post: {
      summary: "Queue a video",
      description: videoPricing(prices),
      security: either,
      parameters: [idempotencyKey],
      requestBody: generationBody("VideoRequest"),
      responses: generationAnswers("202"),
    },
  },
  "/api/generations/{id}": {
    get: {
      summary: "One of the caller's jobs",
      security: either,
      parameters: [idParam("The job id (gen_…).", { type: "string" })],
      responses: { "200": json(ref("JobOnly"), "The job."), "401": unauthorized, "404": err("`not_found`: no such job of the caller's."), "429": rateLimited },
    },
  },
  "/generations/{id}/file": {
    get: {
      summary: "The result file of one of the caller's finished jobs",
      security: either,
      parameters: [idParam("The job id (gen_…).", { type: "string" }), { name: "Range", in: "header", required: false, schema: { type: "string" } }],
      responses: {
        "200": { description: "The file.", content: { "image/png": {}, "image/gif": {}, "video/mp4": {}, "application/octet-stream": {} } },
        "206": { description: "The requested byte range." },
        "401": unauthorized,
        "404": { description: "No finished job of the caller's with that id.", content: { "text/plain": { schema: { type: "string" } } } },
        "416": { description: "The range is outside the file." },
        "429": rateLimited,
      },
    },
  },
  "/api/keys": {
    get: {
      summary: "The caller's API keys (never the keys themselves)",
      security: sessionOnly,
      responses: { "200": json(ref("ApiKeyList"), "The keys that still work, newest first."), "401": unauthorized, "403": err("`session_required`: keys are managed with a browser session, not with a key.") },
    },
    post: {
      summary: "Create an API key; the key is in this answer only",
      security: sessionOnly,
      requestBody: { required: true, content: { "application/json": { schema: ref("ApiKeyCreate") } } },
      responses: {
        "201": json(ref("ApiKeyCreated"), "The key, shown once."),
        "400": err("`invalid_json`."),
        "401": unauthorized,
        "403": err(`\`session_required\`: a key cannot create keys. ${crossOrigin}`),
        "413": tooLarge,
        "415": err("`unsupported_media_type`: send JSON."),
        "422": json(ref("ValidationError"), "`invalid_request`: each problem in `issues`."),
      },
    },
  },
  "/api/keys/{id}": {
    delete: {
      summary: "Revoke an API key: it stops working at once",
      security: sessionOnly,
      parameters: [idParam("The key's id.", { type: "integer" })],
      responses: {
        "204": { description: "Revoked." },
        "401": unauthorized,
        "403": err(`\`session_required\`: a key cannot revoke keys. ${crossOrigin}`),
        "404": err("`not_found`: no working key of the caller's with that id."),
      },
    },
  },
  "/api/balance-alert": {
    get: {
      summary: "The balance alert: its threshold (null: off), its state and the balance (decision 028)",
      security: either,
      responses: {
        "200": json(ref("BalanceAlert"), "The setting as it is now."),
        "401": unauthorized,
      },
    },
    put: {
      summary: "Set the balance alert's threshold, or turn it off with null",
      description:
        "One mail when the spendable balance first falls below the threshold; none again until the balance is back at or above it. " +
        "A new threshold the balance is already below starts fired: no mail for that, the banner shows. The same value again changes nothing.",
      security: either,
      requestBody: { required: true, content: { "application/json": { schema: ref("BalanceAlertRequest") } } },
      responses: {
        "200": json(ref("BalanceAlert"), "Saved."),
        "400": err("`invalid_json`."),
        "401": unauthorized,
        "403": err(crossOrigin),
        "413": tooLarge,
        "415": err("`unsupported_media_type`: send JSON."),
        "422": json(ref("ValidationError"), `\`invalid_request\`: thresholdCredits must be a whole number from 1 to 1,000,000, or null; no other fields.`),
      },
    },
  },
  "/api/auto-recharge": {
    get: {
      summary: "The caller's auto-recharge settings, saved card and this month's use (decision 027)",
      security: either,
      responses: { "200": json(ref("AutoRecharge"), "The settings."), "401": unauthorized },
    },
    put: {
      summary: "Save the auto-recharge settings: below thresholdCredits, buy pack with the saved card, within the monthly cap",
      security: either,
      requestBody: { required: true, content: { "application/json": { schema: ref("AutoRechargeRequest") } } },
      responses: {
        "200": json(ref("AutoRecharge"), "Saved: the settings as they are now."),
        "400": err("`invalid_json`."),
        "401": unauthorized,
        "403": err(crossOrigin),
        "405": err("`method_not_allowed`: GET or PUT."),
        "415": err("`unsupported_media_type`: send JSON."),
        "422": json(ref("AutoRechargeRefused"), "`invalid_request` (a threshold that is not a positive whole number, a malformed field), `unknown_pack`, or `no_saved_card` (switching on without a saved card). Nothing was saved."),
        "503": err("`database_busy`: nothing was saved. Retry after Retry-After."),
      },
    },
  },
  "/api/redeem": {
    post: {
      summary: "Redeem a code for credits (once per account; decision 024)",
      security: either,
      requestBody: { required: true, content: { "application/json": { schema: ref("RedeemRequest") } } },
      responses: {
        "200": json(ref("Redeemed"), "Redeemed: the credits arrived as a `redeem` grant."),
        "400": err("`invalid_json`."),
        "401": unauthorized,
        "403": json(ref("RedeemRefused"), `\`email_not_verified\` or \`account_on_hold\`: nothing was redeemed. ${crossOrigin}`),
        "404": json(ref("RedeemRefused"), "`unknown_code`: no such code (a disabled code answers the same)."),
        "409": json(ref("RedeemRefused"), "`already_redeemed`: this account redeemed the code before."),
        "410": json(ref("RedeemRefused"), "`code_expired` (past its end date) or `code_used_up` (redeemed as often as it may be)."),
        "413": tooLarge,
        "415": err("`unsupported_media_type`: send JSON."),
        "422": json(ref("ValidationError"), "`invalid_request`: not a code's shape (6–32 letters and digits; dashes and spaces ignored)."),
        "429": {
          ...err("`rate_limited`: too many codes that did not work from this account or address, or the per-key request limit. See Retry-After.", "RateLimited"),
          headers: { "Retry-After": { schema: { type: "integer" } } },
        },
        "503": err("`database_busy`: nothing was redeemed. Retry after Retry-After."),
      },
    },
  },
  "/api/stripe/checkout": {
    post: {
      summary: "Start a Stripe Checkout for a pack, or a subscription to a plan (the billing page's forms; JSON with Accept: application/json)",
      description:
        "Exactly one of `pack` (a one-time purchase, CREDIT_PACKS) or `plan` (a monthly subscription, CREDIT_PLANS). " +
        "The same `token` again (a double-submitted form) returns the same session.",
      security: sessionOnly,
      requestBody: {
        required: true,
        content: {
          "application/x-www-form-urlencoded": { schema: checkoutBody },
          "application/json": { schema: checkoutBody },
        },
      },
      responses: {
        "200": json(ref("Checkout"), "JSON: the Checkout Session to send the buyer to."),
        "303": { description: "A form post: to Stripe's page; signed out: to /login." },
        "400": json(ref("CheckoutError"), "`invalid_request` (neither or both of pack and plan, or a malformed value), `unknown_pack` or `unknown_plan`."),
        "403": json(ref("CheckoutError"), `\`account_on_hold\`. ${crossOrigin}`),
        "409": json(ref("CheckoutError"), "`already_subscribed`: a subscription is active or past due; change plan in the Customer Portal."),
      },
    },
  },
  "/api/stripe/webhook": {
    post: {
      summary: "Stripe's signed events (server to server; authenticated by the Stripe-Signature header)",
      security: [],
      parameters: [{ name: "Stripe-Signature", in: "header", required: true, schema: { type: "string" } }],
      requestBody: { required: true, content: { "application/json": { schema: { type: "object" } } } },
      responses: {
        "200": json(ref("WebhookReceived"), "Acknowledged (also a replay, or a type the app ignores)."),
        "400": json(ref("WebhookError"), "`invalid_signature`: nothing changed."),
        "413": json(ref("WebhookError"), "`payload_too_large`: over 1 MB."),
        "500": json(ref("WebhookError"), "`handler_failed`: rolled back; Stripe retries."),
      },
    },
  },
  "/api/openapi.json": {
    get: { summary: "This document", security: [], responses: { "200": json({ type: "object", required: ["openapi", "info", "paths", "components"] }, "OpenAPI 3.1") } },
  },
});

export function openApiDocument(serverUrl: string, prices: Pick<VideoPrices, "perSeconds" | "perClip">) {
  return {
    openapi: "3.1.0",
    info: {
      title: "Credits Studio API",
      version: "1",
      description:
        "Generate images and videos with your credits. Authenticate with an API key (`Authorization: Bearer csk_…`, created on /settings/api-keys) or, " +
        "from the browser, the session cookie. Every error is `{ \"error\": <code>, \"message\": <sentence>, … }` with Cache-Control: no-store. " +
        "A key's monthly credit limit counts per UTC calendar month. Requests made with a key need no Origin header and no cookie.",
    },
    servers: [{ url: serverUrl }],
    security: either,
    paths: paths(prices),
    components: {
      securitySchemes: {
        bearerAuth: { type: "http", scheme: "bearer", bearerFormat: "csk_ followed by 43 URL-safe characters", description: "An API key. A bad, unknown or revoked key is 401 `invalid_api_key`, even with a session cookie." },
        sessionCookie: { type: "apiKey", in: "cookie", name: "__session", description: "The browser session (sign in at /login). State-changing requests must come from the app's own origin." },
      },
      schemas,
    },
  };
}
