import { parseWithZod } from "@conform-to/zod";
import type { ActionFunctionArgs, LoaderFunctionArgs, MetaFunction } from "@remix-run/node";
import { json } from "@remix-run/node";
import { Form, useActionData, useLoaderData } from "@remix-run/react";
import { DeadLink } from "~/components/account-forms";
import { checkEmailChangeLink, confirmEmailChange } from "~/services/accounts/account-settings.server";
import { getRuntime } from "~/services/runtime.server";
import { redirectWithToast } from "~/services/toast.server";
import { ConfirmEmailChangeSchema } from "~/utils/account-schemas";

export const meta: MetaFunction = () => [{ title: "Confirm your new address · Credits Studio" }];

// Opening the link changes nothing (mail scanners follow links): the button does.
export async function loader({ request }: LoaderFunctionArgs) {
  const token = new URL(request.url).searchParams.get("token") ?? "";
  const verdict = await checkEmailChangeLink(getRuntime().db, token);
  return json(verdict.ok ? { token, email: verdict.email, problem: null } : { token: null, email: null, problem: verdict.reason }, {
    headers: { "Cache-Control": "no-store" },
  });
}

export async function action({ request }: ActionFunctionArgs) {
  const submission = parseWithZod(await request.formData(), { schema: ConfirmEmailChangeSchema });
  if (submission.status !== "success") return json({ problem: "invalid" }, { status: 400 });
  const { db, config } = getRuntime();
  const result = await confirmEmailChange({ db, config }, submission.value.token);
  if (!result.ok) return json({ problem: result.reason }, { status: 400 });
  return redirectWithToast(request, "/settings/account", { kind: "success", title: "Your address was changed.", description: `It is now ${result.user.email}.` });
}

export default function ConfirmEmailChange() {
  const { token, email, problem: loaderProblem } = useLoaderData<typeof loader>();
  const data = useActionData<typeof action>();
  const problem = data?.problem ?? loaderProblem;
  return (
    <div className="space-y-4">
      <h1 className="text-2xl font-bold">Confirm your new address</h1>
      {problem === "unavailable" ? (
        // Neutral on purpose: the same words whether the address was taken meanwhile or not.
        <div role="alert" className="card max-w-md">
          <p className="font-semibold">The address could not be changed. Your account keeps its current address.</p>
        </div>
      ) : problem || !token ? (
        <DeadLink reason={problem ?? "invalid"} retryTo="/settings/account" retryLabel="Ask again from your account page" />
      ) : (
        <Form method="post" action={`/confirm-email-change?${new URLSearchParams({ token })}`} className="card max-w-md space-y-4">
          <p>
            Use <strong>{email}</strong> as the address of your Credits Studio account?
          </p>
          <input type="hidden" name="token" value={token} />
          <button type="submit" className="btn-primary">
            Confirm the new address
          </button>
        </Form>
      )}
    </div>
  );
}
