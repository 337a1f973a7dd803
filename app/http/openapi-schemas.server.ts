// The JSON Schemas (2020-12, as OpenAPI 3.1 uses them) of every JSON body the API answers with.
// openapi.server.ts puts them under components.schemas; tests/integration/openapi.test.ts
// validates real answers against them, so a change of an answer that is not made here fails.

import { ALERT_THRESHOLD_MAX } from "~/utils/balance-alert-schemas";
import { API_KEY_MONTHLY_LIMIT_MAX, API_KEY_NAME_MAX } from "~/utils/api-key-schemas";
import { MAX_AMOUNT_PER_MONTH, MAX_RECHARGES_PER_MONTH, MAX_THRESHOLD } from "~/utils/auto-recharge-schemas";
import { DEFAULT_VIDEO_SECONDS, IMAGE_SIZES, MAX_VIDEO_SECONDS, PROMPT_MAX_LENGTH, VIDEO_RESOLUTIONS } from "~/utils/generation-schemas";

const str = { type: "string" } as const;
const int = { type: "integer" } as const;
const time = { type: "string", format: "date-time" } as const;
const nullable = (schema: object) => ({ oneOf: [schema, { type: "null" }] });
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });

const ERROR_CODES = [
  "unauthorized",
  "invalid_api_key",
  "session_required",
  "invalid_json",
  "invalid_form",
  "invalid_request",
  "unsupported_media_type",
  "payload_too_large",
  "insufficient_credits",
  "key_limit_reached",
  "account_flagged",
  "account_on_hold",
  "cross_origin_request",
  "idempotency_key_reused",
  "rate_limited",
  "not_found",
  "generation_failed",
  "unknown_pack",
  "unknown_plan",
  "already_subscribed",
  "database_busy",
  "method_not_allowed",
  "unknown_code",
  "code_expired",
  "code_used_up",
  "already_redeemed",
  "email_not_verified",
  "no_saved_card",
];

function errorOf(codes: string[], extra: Record<string, object> = {}, required: string[] = []) {
  return {
    type: "object",
    required: ["error", "message", ...required],
    properties: { error: { enum: codes }, message: str, ...extra },
  };
}

export const schemas = {
  Error: {
    description: "Every error: a code to switch on and a sentence to show. Some codes add fields (see the other error schemas).",
    ...errorOf(ERROR_CODES),
  },
  Unauthorized: errorOf(["unauthorized", "invalid_api_key"]),
  ValidationError: errorOf(["invalid_request", "idempotency_key_reused"], {
    issues: { type: "array", items: { type: "object", required: ["field", "message"], properties: { field: nullable(str), message: str } } },
  }),
  InsufficientCredits: errorOf(["insufficient_credits"], { balance: int, needed: int }, ["balance", "needed"]),
  KeyLimitReached: errorOf(["key_limit_reached"], { limit: int, spentThisMonth: int, needed: int }, ["limit", "spentThisMonth"]),
  PaymentRequired: { oneOf: [ref("InsufficientCredits"), ref("KeyLimitReached")] },
  RateLimited: errorOf(["rate_limited"], { retryAfterSeconds: { type: "integer", minimum: 1 } }, ["retryAfterSeconds"]),
  Job: {
    type: "object",
    required: ["id", "kind", "status", "progress", "cost", "hold", "prompt", "options", "provider", "error", "resultUrl", "mimeType", "statusUrl", "createdAt", "updatedAt", "finishedAt"],
    properties: {
      id: { type: "string", pattern: "^gen_" },
      kind: { enum: ["image", "video"] },
      status: { enum: ["queued", "running", "succeeded", "failed"] },
      progress: { type: "integer", minimum: 0, maximum: 100 },
      cost: { ...int, description: "Credits this job holds and, if it succeeds, is charged: a video's price follows its length and resolution (see POST /api/generate-video)." },
      hold: { enum: ["pending", "posted", "voided"], description: "The job's credit hold: posted = charged, voided = given back." },
      prompt: str,
      options: { type: "object", properties: { size: str, resolution: str, durationSeconds: int } },
      provider: str,
      error: nullable(str),
      resultUrl: nullable(str),
      mimeType: nullable(str),
      statusUrl: str,
      createdAt: time,
      updatedAt: time,
      finishedAt: nullable(time),
    },
  },
  JobAnswer: { type: "object", required: ["job", "balance"], properties: { job: ref("Job"), balance: int } },
  GenerationFailed: errorOf(["generation_failed"], { job: ref("Job"), balance: int }, ["job", "balance"]),
  JobOnly: { type: "object", required: ["job"], properties: { job: ref("Job") } },
  Credits: { type: "object", required: ["balance", "onHold", "userId"], properties: { balance: int, onHold: int, userId: int } },
  ApiKey: {
    type: "object",
    required: ["id", "name", "prefix", "monthlyCreditLimit", "spentThisMonth", "createdAt", "lastUsedAt"],
    additionalProperties: false,
    properties: {
      id: int,
      name: str,
      prefix: { type: "string", pattern: "^csk_", description: "The key's first characters, to tell keys apart." },
      monthlyCreditLimit: nullable({ type: "integer", minimum: 1 }),
      spentThisMonth: { type: "integer", minimum: 0, description: "Pending and posted usage through the key since the UTC month began." },
      createdAt: time,
      lastUsedAt: nullable(time),
    },
  },
  ApiKeyList: { type: "object", required: ["keys"], properties: { keys: { type: "array", items: ref("ApiKey") } } },
  ApiKeyCreated: {
    type: "object",
    required: ["id", "key", "name", "prefix", "monthlyCreditLimit", "createdAt"],
    additionalProperties: false,
    properties: {
      id: int,
      key: { type: "string", pattern: "^csk_[A-Za-z0-9_-]{43}$", description: "Shown this once; only its hash is stored." },
      name: str,
      prefix: str,
      monthlyCreditLimit: nullable({ type: "integer", minimum: 1 }),
      createdAt: time,
    },
  },
  ApiKeyCreate: {
    type: "object",
    required: ["name"],
    additionalProperties: false,
    properties: {
      name: { type: "string", minLength: 1, maxLength: API_KEY_NAME_MAX, description: "No control or invisible characters." },
      monthlyCreditLimit: nullable({ type: "integer", minimum: 1, maximum: API_KEY_MONTHLY_LIMIT_MAX }),
    },
  },
  ImageRequest: {
    type: "object",
    required: ["prompt"],
    properties: { prompt: { type: "string", minLength: 1, maxLength: PROMPT_MAX_LENGTH }, size: { enum: [...IMAGE_SIZES] } },
  },
  VideoRequest: {
    type: "object",
    required: ["prompt"],
    properties: {
      prompt: { type: "string", minLength: 1, maxLength: PROMPT_MAX_LENGTH },
      resolution: { enum: [...VIDEO_RESOLUTIONS] },
      durationSeconds: { type: "integer", minimum: 1, maximum: MAX_VIDEO_SECONDS, default: DEFAULT_VIDEO_SECONDS, description: "The clip's length; its price is pro rata (see the operation)." },
    },
  },
  BalanceAlertRequest: {
    type: "object",
    required: ["thresholdCredits"],
    additionalProperties: false,
    properties: {
      thresholdCredits: {
        ...nullable({ type: "integer", minimum: 1, maximum: ALERT_THRESHOLD_MAX }),
        description: "Mail once when the spendable balance falls below this many credits; null turns the alert off.",
      },
    },
  },
  BalanceAlert: {
    type: "object",
    required: ["thresholdCredits", "state", "balance", "below"],
    additionalProperties: false,
    properties: {
      thresholdCredits: { ...nullable({ type: "integer", minimum: 1, maximum: ALERT_THRESHOLD_MAX }), description: "null: off (the default)." },
      state: { enum: ["off", "armed", "fired"], description: "armed: the next fall below mails; fired: mailed (or set while below), re-armed once the balance is back at or above." },
      balance: { type: "integer", description: "The spendable balance now." },
      below: { type: "boolean", description: "The balance is below the threshold (the app shows a banner)." },
    },
  },
  AutoRechargeRequest: {
    type: "object",
    required: ["enabled", "thresholdCredits", "pack"],
    additionalProperties: false,
    properties: {
      enabled: { type: "boolean", description: "On needs a saved card (no_saved_card otherwise)." },
      thresholdCredits: { type: "integer", minimum: 1, maximum: MAX_THRESHOLD, description: "When a spend leaves the spendable balance below this, the pack is bought." },
      pack: { type: "string", minLength: 1, maxLength: 32, description: "A pack id (CREDIT_PACKS)." },
      maxRechargesPerMonth: { ...nullable({ type: "integer", minimum: 1, maximum: MAX_RECHARGES_PER_MONTH }), description: "At most this many recharges a UTC calendar month (null: no count cap)." },
      maxAmountPerMonth: { ...nullable({ type: "integer", minimum: 1, maximum: MAX_AMOUNT_PER_MONTH }), description: "At most this much money (minor units, e.g. cents) a UTC calendar month (null or omitted: no money cap)." },
    },
  },
  AutoRecharge: {
    type: "object",
    required: ["enabled", "thresholdCredits", "pack", "maxRechargesPerMonth", "maxAmountPerMonth", "switchedOff", "consecutiveFailures", "thisMonth", "card"],
    additionalProperties: false,
    properties: {
      enabled: { type: "boolean" },
      thresholdCredits: nullable(int),
      pack: nullable(str),
      maxRechargesPerMonth: nullable(int),
      maxAmountPerMonth: nullable(int),
      switchedOff: { type: "boolean", description: "True when the app switched it off after three failed payments in a row." },
      consecutiveFailures: int,
      thisMonth: { type: "object", required: ["recharges", "amount"], additionalProperties: false, properties: { recharges: int, amount: int } },
      card: nullable({ type: "object", required: ["brand", "last4"], additionalProperties: false, properties: { brand: str, last4: str } }),
    },
  },
  AutoRechargeRefused: errorOf(["invalid_request", "unknown_pack", "no_saved_card"], {
    issues: { type: "array", items: { type: "object", required: ["field", "message"], properties: { field: nullable(str), message: str } } },
  }),
  RedeemRequest: {
    type: "object",
    required: ["code"],
    additionalProperties: false,
    properties: { code: { type: "string", minLength: 1, maxLength: 100, description: "As printed (ABCD-EFGH-JKMN); case, dashes and spaces do not matter." } },
  },
  Redeemed: {
    type: "object",
    required: ["code", "credits", "expiresAt", "balance", "transactionId"],
    additionalProperties: false,
    properties: {
      code: { type: "string", pattern: "^[A-Z0-9]{6,32}$", description: "The code as stored (upper case, no dashes)." },
      credits: { type: "integer", minimum: 1 },
      expiresAt: { ...nullable(time), description: "When these credits expire (null: never)." },
      balance: { type: "integer", description: "The spendable balance after the redemption." },
      transactionId: int,
    },
  },
  RedeemRefused: errorOf(["unknown_code", "code_expired", "code_used_up", "already_redeemed", "email_not_verified", "account_on_hold", "cross_origin_request"]),
  Checkout: { type: "object", required: ["url", "id"], properties: { url: str, id: str } },
  CheckoutError: { type: "object", required: ["error", "message"], properties: { error: { enum: ["invalid_request", "unknown_pack", "unknown_plan", "account_on_hold", "already_subscribed", "cross_origin_request"] }, message: str } },
  WebhookReceived: { type: "object", required: ["received", "outcome"], properties: { received: { const: true }, outcome: str } },
  WebhookError: { type: "object", required: ["error"], properties: { error: { enum: ["invalid_signature", "handler_failed", "payload_too_large"] }, message: str, eventId: str } },
} as const;
