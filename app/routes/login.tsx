import { parseWithZod } from "@conform-to/zod";
import type { ActionFunctionArgs, HeadersFunction, LoaderFunctionArgs, MetaFunction } from "@remix-run/node";
import { json, redirect } from "@remix-run/node";
import { Link, useActionData, useLoaderData } from "@remix-run/react";
import { AuthForm } from "~/components/auth-form";
import { LoginSchema } from "~/utils/auth-schemas";
import { getAuthRateLimiter, retryAfterHeaders } from "~/services/auth-rate-limit.server";
import { getRuntime } from "~/services/runtime.server";
import { createUserSession, getUserId, logIn } from "~/services/auth.server";
import { safeRedirectTarget } from "~/utils/safe-redirect";

export const meta: MetaFunction = () => [{ title: "Log in · Credits Studio" }];

// A refused (rate-limited) attempt answers 429 with Retry-After on the page too, not only to fetches.
export const headers: HeadersFunction = ({ actionHeaders }) => {
  const retryAfter = actionHeaders.get("Retry-After");
  return retryAfter ? { "Retry-After": retryAfter, "Cache-Control": "no-store" } : new Headers();
};

// Never echoed back in the action's reply: the password, and redirectTo (it comes from the request
// and only the loader's checked copy may reach the page).
const HIDDEN_FIELDS = ["password", "redirectTo"];

export async function loader({ request }: LoaderFunctionArgs) {
  if ((await getUserId(request)) !== null) throw redirect("/generate", { status: 303 });
  // Only a safe same-origin path is carried on in the form; anything else is dropped here.
  const redirectTo = safeRedirectTarget(new URL(request.url).searchParams.get("redirectTo"), getRuntime().config.appUrl);
  return json({ redirectTo });
}

export async function action({ request, context }: ActionFunctionArgs) {
  const formData = await request.formData();
  const submission = parseWithZod(formData, { schema: LoginSchema });
  if (submission.status !== "success") {
    return json(submission.reply({ hideFields: HIDDEN_FIELDS }), { status: 400 });
  }
  const { db, config } = getRuntime();
  const { email, password, redirectTo } = submission.value;
  const result = await logIn({ db, limiter: getAuthRateLimiter(config) }, { ip: context.clientIp ?? "unknown", email, password });
  if (result.ok) return createUserSession(request, result.user, redirectTo);
  const reply = submission.reply({ formErrors: [result.message], hideFields: HIDDEN_FIELDS });
  if (result.reason === "rate_limited") return json(reply, { status: 429, headers: retryAfterHeaders(result) });
  return json(reply, { status: 400 });
}

export default function Login() {
  const lastResult = useActionData<typeof action>();
  const { redirectTo } = useLoaderData<typeof loader>();
  return (
    <div className="space-y-4">
      <h1 className="text-2xl font-bold">Log in</h1>
      {/* requireUser sent the visitor here from a page they asked for: say why, and that they go back there. */}
      {redirectTo ? (
        <p className="rounded-md bg-sky-50 p-3 text-sm text-sky-900 ring-1 ring-sky-300" role="status" data-testid="login-to-continue">
          Log in to continue: you will be taken back to the page you asked for.
        </p>
      ) : null}
      <AuthForm
        id="login"
        action="/login"
        schema={LoginSchema}
        lastResult={lastResult}
        redirectTo={redirectTo}
        submitLabel="Log in"
        passwordAutoComplete="current-password"
      />
      <p className="text-sm text-slate-700">
        <Link className="text-indigo-700 underline" to="/forgot-password">
          Forgot your password?
        </Link>
      </p>
      <p className="text-sm text-slate-700">
        New here?{" "}
        <Link className="text-indigo-700 underline" to={{ pathname: "/signup", search: redirectTo ? `?redirectTo=${encodeURIComponent(redirectTo)}` : "" }}>
          Create an account
        </Link>
      </p>
    </div>
  );
}
