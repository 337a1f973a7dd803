import { parseWithZod } from "@conform-to/zod";
import type { ActionFunctionArgs, LoaderFunctionArgs, MetaFunction } from "@remix-run/node";
import { json, redirect } from "@remix-run/node";
import { Link, useActionData, useSearchParams } from "@remix-run/react";
import { AuthForm } from "~/components/auth-form";
import { SignupSchema } from "~/utils/auth-schemas";
import { createUserSession, getAuthenticator, getUserId, safeRedirect } from "~/services/auth.server";
import { EmailTakenError } from "~/services/users.server";

export const meta: MetaFunction = () => [{ title: "Sign up · Credits Studio" }];

export async function loader({ request }: LoaderFunctionArgs) {
  if ((await getUserId(request)) !== null) throw redirect("/generate", { status: 303 });
  return json({});
}

export async function action({ request }: ActionFunctionArgs) {
  const formData = await request.clone().formData();
  const submission = parseWithZod(formData, { schema: SignupSchema });
  if (submission.status !== "success") {
    return json(submission.reply({ hideFields: ["password"] }), { status: 400 });
  }
  try {
    const user = await getAuthenticator().authenticate("signup", request);
    return createUserSession(request, user, safeRedirect(submission.value.redirectTo), {
      kind: "success",
      title: "Welcome!",
      description: `Your account is ready with ${user.credits} free credits.`,
    });
  } catch (error) {
    if (error instanceof EmailTakenError) {
      return json(submission.reply({ fieldErrors: { email: [error.message] }, hideFields: ["password"] }), {
        status: 400,
      });
    }
    throw error;
  }
}

export default function Signup() {
  const lastResult = useActionData<typeof action>();
  const [searchParams] = useSearchParams();
  const redirectTo = searchParams.get("redirectTo");
  return (
    <div className="space-y-4">
      <h1 className="text-2xl font-bold">Create your account</h1>
      <AuthForm
        id="signup"
        schema={SignupSchema}
        lastResult={lastResult}
        redirectTo={redirectTo}
        submitLabel="Sign up"
        passwordAutoComplete="new-password"
        passwordHint="At least 8 characters."
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
