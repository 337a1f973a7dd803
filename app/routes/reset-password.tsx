import { parseWithZod } from "@conform-to/zod";
import type { ActionFunctionArgs, LoaderFunctionArgs, MetaFunction } from "@remix-run/node";
import { json } from "@remix-run/node";
import { useActionData, useLoaderData } from "@remix-run/react";
import { DeadLink, ValidatedForm } from "~/components/account-forms";
import { Field } from "~/components/forms";
import { checkResetLink, resetPassword } from "~/services/accounts/password-reset.server";
import { getRuntime } from "~/services/runtime.server";
import { redirectWithToastInNewSession } from "~/services/toast.server";
import { ResetPasswordSchema } from "~/utils/account-schemas";

export const meta: MetaFunction = () => [{ title: "Choose a new password · Credits Studio" }];

// The token rides in the page (a hidden field), never in a reply: it is a secret until used.
const HIDDEN_FIELDS = ["password", "token"];

export async function loader({ request }: LoaderFunctionArgs) {
  const token = new URL(request.url).searchParams.get("token") ?? "";
  const verdict = await checkResetLink(getRuntime().db, token);
  return json(verdict.ok ? { token, problem: null } : { token: null, problem: verdict.reason }, { headers: { "Cache-Control": "no-store" } });
}

export async function action({ request }: ActionFunctionArgs) {
  const submission = parseWithZod(await request.formData(), { schema: ResetPasswordSchema });
  if (submission.status !== "success") return json({ problem: null, result: submission.reply({ hideFields: HIDDEN_FIELDS }) }, { status: 400 });
  const { db, config } = getRuntime();
  const result = await resetPassword({ db, config }, submission.value);
  if (!result.ok) return json({ problem: result.reason, result: submission.reply({ hideFields: HIDDEN_FIELDS }) }, { status: 400 });
  // Every session of the account has ended, this browser's too: the new password is proved at log-in.
  return redirectWithToastInNewSession("/login", {
    kind: "success",
    title: "Your password was changed.",
    description: "Every session was signed out. Log in with your new password.",
  });
}

export default function ResetPassword() {
  const { token, problem: loaderProblem } = useLoaderData<typeof loader>();
  const data = useActionData<typeof action>();
  const problem = data?.problem ?? loaderProblem;
  return (
    <div className="space-y-4">
      <h1 className="text-2xl font-bold">Choose a new password</h1>
      {problem || !token ? (
        <DeadLink reason={problem ?? "invalid"} retryTo="/forgot-password" retryLabel="Ask for a new link" />
      ) : (
        <div className="card max-w-md">
          <ValidatedForm
            id="reset-password"
            // The token stays in the URL so the page re-rendered after a refusal (no JavaScript) still has it.
            action={`/reset-password?${new URLSearchParams({ token })}`}
            schema={ResetPasswordSchema} lastResult={data?.result} submitLabel="Set the new password">
            {(fields) => (
              <>
                <input type="hidden" name="token" value={token} />
                <Field meta={fields.password} label="New password" type="password" autoComplete="new-password" hint="At least 8 characters." />
              </>
            )}
          </ValidatedForm>
        </div>
      )}
    </div>
  );
}
