import { parseWithZod } from "@conform-to/zod";
import { json, type ActionFunctionArgs, type LoaderFunctionArgs } from "@remix-run/node";
import { requireApiCaller, requireUser } from "~/services/auth.server";
import { getAutoRecharge, saveAutoRecharge, type AutoRechargeView } from "~/services/money/auto-recharge-settings.server";
import { createCardSetupSession } from "~/services/money/checkout.server";
import { removeSavedCard } from "~/services/money/saved-cards.server";
import { getRuntime } from "~/services/runtime.server";
import { getStripeContext } from "~/services/stripe.server";
import { redirectWithToast } from "~/services/toast.server";
import { AutoRechargeFormSchema, AutoRechargeJsonSchema } from "~/utils/auto-recharge-schemas";
import { answeringBusyAs503, apiError, methodNotAllowed, NO_STORE } from "./api-errors.server";

// HTTP for auto-recharge (decision 027): GET/PUT /api/auto-recharge (JSON, a session or an API
// key) and the billing page's forms: the settings (intent=auto-recharge), "Add a card"
// (intent=add-card, a setup-mode Checkout) and "Remove card" (intent=remove-card).

/** The settings as the API answers them. */
function apiView(v: AutoRechargeView) {
  return {
    enabled: v.enabled,
    thresholdCredits: v.thresholdCredits,
    pack: v.pack,
    maxRechargesPerMonth: v.maxRechargesPerMonth,
    maxAmountPerMonth: v.maxAmountPerMonth,
    switchedOff: v.switchedOffReason !== null,
    consecutiveFailures: v.consecutiveFailures,
    thisMonth: v.thisMonth,
    card: v.card,
  };
}

export const autoRechargeLoader = answeringBusyAs503(async ({ request }: LoaderFunctionArgs): Promise<Response> => {
  const caller = await requireApiCaller(request);
  return json(apiView(await getAutoRecharge(getRuntime().db, caller.user.id)), { headers: NO_STORE });
});

export const autoRechargeApiAction = answeringBusyAs503(async ({ request }: ActionFunctionArgs): Promise<Response> => {
  if (request.method !== "PUT") return methodNotAllowed("GET, PUT");
  const caller = await requireApiCaller(request);
  const type = (request.headers.get("Content-Type") ?? "").split(";")[0].trim().toLowerCase();
  if (type !== "application/json") return apiError(415, "unsupported_media_type", 'Send JSON (Content-Type: application/json), e.g. {"enabled": true, "thresholdCredits": 100, "pack": "credits", "maxRechargesPerMonth": 3}.');
  let data: unknown;
  try {
    data = JSON.parse(await request.text());
  } catch {
    return apiError(400, "invalid_json", "The request body is not valid JSON.");
  }
  const parsed = AutoRechargeJsonSchema.safeParse(data);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((issue) => ({ field: issue.path.join(".") || null, message: issue.message }));
    return apiError(422, "invalid_request", issues.map((i) => (i.field ? `${i.field}: ${i.message}` : i.message)).join("; "), { issues });
  }
  const { db, config } = getRuntime();
  const saved = await saveAutoRecharge(db, config, caller.user.id, parsed.data);
  if (!saved.ok) return apiError(422, saved.reason, saved.message, { issues: [{ field: saved.field, message: saved.message }] });
  return json(apiView(saved.view), { headers: NO_STORE });
});

/** The billing page's forms of this feature; null when the post is another form's. */
export async function autoRechargeFormAction({ request }: ActionFunctionArgs, formData: FormData): Promise<Response | null> {
  const intent = formData.get("intent");
  if (intent !== "auto-recharge" && intent !== "add-card" && intent !== "remove-card") return null;
  const user = await requireUser(request);
  const { db, config } = getRuntime();
  const stripe = getStripeContext().stripe;
  if (intent === "add-card") {
    const token = formData.get("token");
    const started = await createCardSetupSession(db, stripe, config, { user, requestToken: typeof token === "string" && token.length <= 100 ? token : undefined });
    if (!started.ok) return redirectWithToast(request, "/settings/billing", { kind: "error", title: started.message }, { status: 303 });
    // Another origin (Stripe's page): a plain redirect, as the pack checkout does.
    return new Response(null, { status: 303, headers: { Location: started.url } });
  }
  if (intent === "remove-card") {
    const removed = await removeSavedCard(db, stripe, user.id);
    return redirectWithToast(request, "/settings/billing", removed ? { kind: "success", title: "Card removed" } : { kind: "error", title: "No card is saved." }, { status: 303 });
  }
  const submission = parseWithZod(formData, { schema: AutoRechargeFormSchema });
  if (submission.status !== "success") return json({ intent: "auto-recharge" as const, result: submission.reply() }, { status: 400 });
  const v = submission.value;
  const saved = await saveAutoRecharge(db, config, user.id, {
    enabled: v.enabled,
    thresholdCredits: v.thresholdCredits,
    pack: v.pack,
    maxRechargesPerMonth: v.maxRechargesPerMonth,
    maxAmountPerMonth: v.maxDollarsPerMonth,
  });
  if (!saved.ok) {
    const field = saved.field === "enabled" ? "enabled" : "pack";
    return json({ intent: "auto-recharge" as const, result: submission.reply({ fieldErrors: { [field]: [saved.message] } }) }, { status: 422 });
  }
  return redirectWithToast(request, "/settings/billing", {
    kind: "success",
    title: saved.view.enabled ? `Auto-recharge on: below ${saved.view.thresholdCredits} credits we buy your pack` : "Auto-recharge settings saved (off)",
  });
}
