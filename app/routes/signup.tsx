import { parseWithZod } from "@conform-to/zod";
import type { ActionFunctionArgs, HeadersFunction, LoaderFunctionArgs, MetaFunction } from "@remix-run/node";
import { json, redirect } from "@remix-run/node";
import { Link, useActionData, useLoaderData } from "@remix-run/react";
import { AuthForm, HONEYPOT_FIELD } from "~/components/auth-form";
import { SignupSchema } from "~/utils/auth-schemas";
import { signUp } from "~/services/accounts/signup.server";
import { getUserId } from "~/services/auth.server";
import { safeRedirectTarget } from "~/utils/safe-redirect";
import { getAuthRateLimiter, retryAfterHeaders } from "~/services/auth-rate-limit.server";
import { logger } from "~/services/logger.server";
import { getRuntime } from "~/services/runtime.server";

export const meta: MetaFunction = () => [{ title: "Sign up · Credits Studio" }];

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
  const submission = parseWithZod(formData, { schema: SignupSchema });
  if (submission.status !== "success") {
    return json(submission.reply({ hideFields: HIDDEN_FIELDS }), { status: 400 });
  }
  const { db, config } = getRuntime();
  const ip = context.clientIp ?? "unknown";
  // The honeypot: people never see this field; a bot that fills it in creates nothing.
  const honeypot = formData.get(HONEYPOT_FIELD);
  const { email, password, redirectTo } = submission.value;
  const result = await signUp(
    { db, config, limiter: getAuthRateLimiter(config) },
    { ip, email, password, honeypotFilled: typeof honeypot === "string" && honeypot.trim() !== "" },
  );
  // A new address and a taken one get this very answer (decision 018): nobody is logged in, and
  // only the mail that goes to the address tells the two apart.
  if (result.ok) {
    const target = safeRedirectTarget(redirectTo, config.appUrl);
    return redirect(target ? `/signup/check-inbox?${new URLSearchParams({ redirectTo: target })}` : "/signup/check-inbox", {
      status: 303,
      headers: { "Cache-Control": "no-store" },
    });
  }
  const hideFields = HIDDEN_FIELDS;
  switch (result.reason) {
    case "rate_limited":
      return json(submission.reply({ formErrors: [result.message], hideFields }), { status: 429, headers: retryAfterHeaders(result) });
    case "honeypot":
      logger.info({ reqId: context.requestId, ip }, "sign-up refused: honeypot field filled");
      return json(submission.reply({ formErrors: [result.message], hideFields }), { status: 400 });
  }
}

export default function Signup() {
  const lastResult = useActionData<typeof action>();
  const { redirectTo } = useLoaderData<typeof loader>();
  return (
    <div className="space-y-4">
      <h1 className="text-2xl font-bold">Create your account</h1>
      <AuthForm
        id="signup"
        action="/signup"
        schema={SignupSchema}
        lastResult={lastResult}
        redirectTo={redirectTo}
        submitLabel="Sign up"
        passwordAutoComplete="new-password"
        passwordHint="At least 8 characters."
        honeypot
      />
      <p className="text-sm text-slate-700">
        Already have an account?{" "}
        <Link className="text-indigo-700 underline" to={{ pathname: "/login", search: redirectTo ? `?redirectTo=${encodeURIComponent(redirectTo)}` : "" }}>
          Log in
        </Link>
      </p>
    </div>
  );
}
