import { parseWithZod } from "@conform-to/zod";
import { json, type ActionFunctionArgs } from "@remix-run/node";
import { requireApiCaller, requireUser } from "~/services/auth.server";
import { redeemCode, type RedeemResult } from "~/services/money/redemptions.server";
import { getRedeemLimiter } from "~/services/money/redemption-limits.server";
import { getRuntime } from "~/services/runtime.server";
import { redirectWithToast } from "~/services/toast.server";
import { formatCode, RedeemCodeFormSchema, RedeemCodeSchema } from "~/utils/redeem-code-schemas";
import { answeringBusyAs503, apiError, methodNotAllowed, NO_STORE } from "./api-errors.server";

// HTTP for redeeming a code: POST /api/redeem (JSON, a session or an API key) and the billing
// page's "Redeem a code" form (intent=redeem). One service call (money/redemptions.server.ts);
// a refusal's status is decided here, once, for both. Decision 024.

type Refused = Exclude<RedeemResult, { ok: true }>;

/** The status of each refusal (the JSON error code is the refusal's reason). */
const STATUS: Record<Refused["reason"], number> = {
  unknown_code: 404,
  code_expired: 410,
  code_used_up: 410,
  already_redeemed: 409,
  email_not_verified: 403,
  account_on_hold: 403,
  user_not_found: 401,
  rate_limited: 429,
};

const retryAfter = (r: Refused): Record<string, string> => (r.reason === "rate_limited" ? { "Retry-After": String(r.retryAfterSeconds) } : {});

function expiryText(expiresAt: number | null): string {
  return expiresAt === null ? "they never expire" : `expire on ${new Date(expiresAt).toISOString().slice(0, 10)}`;
}

async function readJson(request: Request): Promise<{ ok: true; data: unknown } | { ok: false; response: Response }> {
  const type = (request.headers.get("Content-Type") ?? "").split(";")[0].trim().toLowerCase();
  if (type !== "application/json") return { ok: false, response: apiError(415, "unsupported_media_type", 'Send JSON (Content-Type: application/json), e.g. {"code": "ABCD-EFGH-JKMN"}.') };
  try {
    return { ok: true, data: JSON.parse(await request.text()) };
  } catch {
    return { ok: false, response: apiError(400, "invalid_json", "The request body is not valid JSON.") };
  }
}

/** POST /api/redeem {"code"}: 200 {credits, expiresAt, balance}; refusals as in STATUS. */
export const redeemApiAction = answeringBusyAs503(async ({ request, context }: ActionFunctionArgs): Promise<Response> => {
  if (request.method !== "POST") return methodNotAllowed("POST");
  const caller = await requireApiCaller(request);
  const body = await readJson(request);
  if (!body.ok) return body.response;
  const data = body.data;
  const parsed = RedeemCodeSchema.strict().safeParse(typeof data === "object" && data !== null && !Array.isArray(data) ? data : { code: data });
  if (!parsed.success) {
    const issues = parsed.error.issues.map((issue) => ({ field: issue.path.join(".") || null, message: issue.message }));
    return apiError(422, "invalid_request", issues.map((i) => (i.field ? `${i.field}: ${i.message}` : i.message)).join("; "), { issues });
  }
  const { db, config } = getRuntime();
  const result = await redeemCode(
    { db, limiter: getRedeemLimiter(config) },
    { userId: caller.user.id, code: parsed.data.code, ip: String(context.clientIp ?? "unknown"), apiKeyId: caller.apiKey?.id ?? null },
  );
  if (!result.ok) {
    const extra = result.reason === "rate_limited" ? { retryAfterSeconds: result.retryAfterSeconds } : {};
    // A deleted account has no session and no working key; if one got this far, it is signed out.
    const error = result.reason === "user_not_found" ? "unauthorized" : result.reason;
    return apiError(STATUS[result.reason], error, result.message, extra, retryAfter(result));
  }
  return json(
    { code: result.code, credits: result.credits, expiresAt: result.expiresAt === null ? null : new Date(result.expiresAt).toISOString(), balance: result.balance, transactionId: result.transaction.id },
    { headers: NO_STORE },
  );
});

/**
 * The billing page's form. Returns null when the post is not this form's (another intent), so
 * the page's action can try its other forms. Success: back to the page with a toast; a refusal:
 * 4xx with the message on the code field, nothing changed.
 */
export async function redeemFormAction({ request, context }: ActionFunctionArgs, formData: FormData): Promise<Response | null> {
  if (formData.get("intent") !== "redeem") return null;
  const user = await requireUser(request);
  const submission = parseWithZod(formData, { schema: RedeemCodeFormSchema });
  if (submission.status !== "success") return json({ intent: "redeem" as const, result: submission.reply() }, { status: 400 });
  const { db, config } = getRuntime();
  const result = await redeemCode({ db, limiter: getRedeemLimiter(config) }, { userId: user.id, code: submission.value.code, ip: String(context.clientIp ?? "unknown") });
  if (!result.ok) {
    return json(
      { intent: "redeem" as const, result: submission.reply({ fieldErrors: { code: [result.message] } }) },
      { status: STATUS[result.reason], headers: { ...NO_STORE, ...retryAfter(result) } },
    );
  }
  return redirectWithToast(request, "/settings/billing", {
    kind: "success",
    title: `${result.credits.toLocaleString("en-US")} credits added (${expiryText(result.expiresAt)})`,
    description: `Code ${formatCode(submission.value.code)} redeemed. Your balance is ${result.balance.toLocaleString("en-US")} credits.`,
  });
}
