import type { ActionFunctionArgs, HeadersFunction, MetaFunction } from "@remix-run/node";
import { json } from "@remix-run/node";
import { Link, useActionData } from "@remix-run/react";
import { resendVerification } from "~/services/accounts/verification.server";
import { getResendLimiter } from "~/services/accounts/verification-limits.server";
import { retryAfterHeaders } from "~/services/auth-rate-limit.server";
import { requireUser } from "~/services/auth.server";
import { getRuntime } from "~/services/runtime.server";
import { redirectWithToast } from "~/services/toast.server";
import { safeRedirect } from "~/utils/safe-redirect";

export const meta: MetaFunction = () => [{ title: "Confirmation e-mail · Credits Studio" }];

export const headers: HeadersFunction = ({ actionHeaders }) => {
  const retryAfter = actionHeaders.get("Retry-After");
  return retryAfter ? { "Retry-After": retryAfter, "Cache-Control": "no-store" } : new Headers();
};

// Not a redirect: after a refused POST Remix runs this loader to render the refusal.
export async function loader() {
  return json(null);
}

/** The banner's "resend the e-mail" button (a real form: works without JavaScript). */
export async function action({ request, context }: ActionFunctionArgs) {
  const user = await requireUser(request);
  const { db, config } = getRuntime();
  const form = await request.formData();
  const back = safeRedirect(form.get("redirectTo"), config.appUrl);
  const result = await resendVerification({ db, config, limiter: getResendLimiter(config) }, { userId: user.id, ip: context.clientIp ?? "unknown" });
  if (result.ok) {
    return redirectWithToast(request, back, { kind: "success", title: "E-mail sent", description: `We sent a new confirmation link to ${result.email}.` });
  }
  if (result.reason === "rate_limited") return json({ message: result.message, back }, { status: 429, headers: retryAfterHeaders(result) });
  return redirectWithToast(request, back, { kind: "info", title: result.message });
}

export default function ResendVerification() {
  const data = useActionData<typeof action>();
  return (
    <div className="card max-w-xl space-y-4">
      <h1 className="text-2xl font-bold">{data ? "No e-mail sent" : "Confirmation e-mail"}</h1>
      {data ? <p role="alert">{data.message}</p> : <p>Use the “Resend the e-mail” button at the top of the page to get a new confirmation link.</p>}
      <p>
        <Link to={data?.back ?? "/generate"} className="text-indigo-700 underline">Back</Link>
      </p>
    </div>
  );
}
