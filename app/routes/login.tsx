import { parseWithZod } from "@conform-to/zod";
import type { ActionFunctionArgs, LoaderFunctionArgs, MetaFunction } from "@remix-run/node";
import { json, redirect } from "@remix-run/node";
import { Link, useActionData, useSearchParams } from "@remix-run/react";
import { AuthForm } from "~/components/auth-form";
import { LoginSchema } from "~/utils/auth-schemas";
import {
  createUserSession,
  getAuthenticator,
  getUserId,
  InvalidCredentialsError,
  safeRedirect,
} from "~/services/auth.server";

export const meta: MetaFunction = () => [{ title: "Log in · Credits Studio" }];

export async function loader({ request }: LoaderFunctionArgs) {
  if ((await getUserId(request)) !== null) throw redirect("/generate", { status: 303 });
  return json({});
}

export async function action({ request }: ActionFunctionArgs) {
  const formData = await request.clone().formData();
  const submission = parseWithZod(formData, { schema: LoginSchema });
  if (submission.status !== "success") {
    return json(submission.reply({ hideFields: ["password"] }), { status: 400 });
  }
  try {
    const user = await getAuthenticator().authenticate("login", request);
    return createUserSession(request, user, safeRedirect(submission.value.redirectTo));
  } catch (error) {
    if (error instanceof InvalidCredentialsError) {
      return json(submission.reply({ formErrors: [error.message], hideFields: ["password"] }), { status: 400 });
    }
    throw error;
  }
}

export default function Login() {
  const lastResult = useActionData<typeof action>();
  const [searchParams] = useSearchParams();
  const redirectTo = searchParams.get("redirectTo");
  return (
    <div className="space-y-4">
      <h1 className="text-2xl font-bold">Log in</h1>
      <AuthForm
        id="login"
        schema={LoginSchema}
        lastResult={lastResult}
        redirectTo={redirectTo}
        submitLabel="Log in"
        passwordAutoComplete="current-password"
      />
      <p className="text-sm text-slate-700">
        New here?{" "}
        <Link className="text-indigo-700 underline" to={{ pathname: "/signup", search: redirectTo ? `?redirectTo=${encodeURIComponent(redirectTo)}` : "" }}>
          Create an account
        </Link>
      </p>
    </div>
  );
}
