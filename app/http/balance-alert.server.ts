import { parseWithZod } from "@conform-to/zod";
import { json, type ActionFunctionArgs, type LoaderFunctionArgs } from "@remix-run/node";
import { getBalanceAlert, setBalanceAlert, type BalanceAlertView } from "~/services/alerts/balance-alerts.server";
import { requireApiCaller, requireUser } from "~/services/auth.server";
import { getRuntime } from "~/services/runtime.server";
import { redirectWithToast } from "~/services/toast.server";
import { BalanceAlertFormSchema, BalanceAlertJsonSchema } from "~/utils/balance-alert-schemas";
import { answeringBusyAs503, apiError, methodNotAllowed, NO_STORE } from "./api-errors.server";

// HTTP for the balance alert: GET/PUT /api/balance-alert (JSON; a session or an API key: the
// setting only decides when the owner is mailed, so a script that spends may also set it) and
// the billing page's form (intent=balance-alert). One service (alerts/balance-alerts.server.ts).
// Decision 028.

const answer = (view: BalanceAlertView) =>
  json({ thresholdCredits: view.thresholdCredits, state: view.state, balance: view.balance, below: view.below }, { headers: NO_STORE });

/** GET /api/balance-alert: the setting, its state and the balance. */
export const balanceAlertApiLoader = answeringBusyAs503(async ({ request }: LoaderFunctionArgs): Promise<Response> => {
  const caller = await requireApiCaller(request);
  return answer(await getBalanceAlert(getRuntime().db, caller.user.id));
});

/** PUT /api/balance-alert {"thresholdCredits": n | null}: 200 with the new state, 422 for a bad value. */
export const balanceAlertApiAction = answeringBusyAs503(async ({ request }: ActionFunctionArgs): Promise<Response> => {
  if (request.method !== "PUT") return methodNotAllowed("GET, PUT");
  const caller = await requireApiCaller(request);
  const type = (request.headers.get("Content-Type") ?? "").split(";")[0].trim().toLowerCase();
  if (type !== "application/json") return apiError(415, "unsupported_media_type", 'Send JSON (Content-Type: application/json), e.g. {"thresholdCredits": 50}.');
  let data: unknown;
  try {
    data = JSON.parse(await request.text());
  } catch {
    return apiError(400, "invalid_json", "The request body is not valid JSON.");
  }
  const parsed = BalanceAlertJsonSchema.safeParse(data);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((issue) => ({ field: issue.path.join(".") || null, message: issue.message }));
    return apiError(422, "invalid_request", issues.map((i) => (i.field ? `${i.field}: ${i.message}` : i.message)).join("; "), { issues });
  }
  return answer(await setBalanceAlert(getRuntime().db, caller.user.id, parsed.data.thresholdCredits));
});

/** The billing page's form; null when the post is another form's. */
export async function balanceAlertFormAction({ request }: ActionFunctionArgs, formData: FormData): Promise<Response | null> {
  if (formData.get("intent") !== "balance-alert") return null;
  const user = await requireUser(request);
  const submission = parseWithZod(formData, { schema: BalanceAlertFormSchema });
  if (submission.status !== "success") return json({ intent: "balance-alert" as const, result: submission.reply() }, { status: 400 });
  const view = await setBalanceAlert(getRuntime().db, user.id, submission.value.thresholdCredits);
  return redirectWithToast(request, "/settings/billing", {
    kind: "success",
    title: view.thresholdCredits === null ? "Balance alert off" : `Balance alert set at ${view.thresholdCredits.toLocaleString("en-US")} credits`,
    description:
      view.thresholdCredits === null
        ? "You will not be mailed about a low balance."
        : view.below
          ? "Your balance is already below it: the banner shows until it is back above, and the next fall after that is mailed."
          : "You get one mail when your balance falls below it.",
  });
}
