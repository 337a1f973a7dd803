import { getFormProps, useForm } from "@conform-to/react";
import { getZodConstraint, parseWithZod } from "@conform-to/zod";
import type { ActionFunctionArgs, HeadersFunction, MetaFunction } from "@remix-run/node";
import { json } from "@remix-run/node";
import { Form, Link, useActionData, useNavigation } from "@remix-run/react";
import { Field, FormErrors } from "~/components/forms";
import { getAccountMailLimiter } from "~/services/accounts/account-limits.server";
import { requestPasswordReset } from "~/services/accounts/password-reset.server";
import { retryAfterHeaders } from "~/services/auth-rate-limit.server";
import { getRuntime } from "~/services/runtime.server";
import { ForgotPasswordSchema } from "~/utils/account-schemas";

export const meta: MetaFunction = () => [{ title: "Forgot your password? · Credits Studio" }];

export const headers: HeadersFunction = ({ actionHeaders }) => {
  const retryAfter = actionHeaders.get("Retry-After");
  return retryAfter ? { "Retry-After": retryAfter, "Cache-Control": "no-store" } : new Headers();
};

// One sentence for every address, registered, unknown or deleted: the page never tells which.
export const SENT_MESSAGE = "If an account exists for that address, we sent a link to reset its password. It works once, for one hour.";

export async function action({ request, context }: ActionFunctionArgs) {
  const submission = parseWithZod(await request.formData(), { schema: ForgotPasswordSchema });
  if (submission.status !== "success") return json({ sent: false, result: submission.reply() }, { status: 400 });
  const { db, config } = getRuntime();
  const ip = context.clientIp ?? "unknown";
  const result = await requestPasswordReset({ db, config, limiter: getAccountMailLimiter(config) }, { ip, email: submission.value.email });
  if (!result.ok) {
    return json({ sent: false, result: submission.reply({ formErrors: [result.message] }) }, { status: 429, headers: retryAfterHeaders(result) });
  }
  // The address is not echoed back: the answer is byte for byte the same for every address.
  return json({ sent: true, result: submission.reply({ resetForm: true }) });
}

export default function ForgotPassword() {
  const data = useActionData<typeof action>();
  const navigation = useNavigation();
  const [form, fields] = useForm({
    id: "forgot-password",
    lastResult: data?.result,
    constraint: getZodConstraint(ForgotPasswordSchema),
    onValidate: ({ formData }) => parseWithZod(formData, { schema: ForgotPasswordSchema }),
    shouldRevalidate: "onInput",
  });
  return (
    <div className="space-y-4">
      <h1 className="text-2xl font-bold">Forgot your password?</h1>
      <p className="max-w-md text-slate-700">Enter the address of your account and we will mail you a link to choose a new password.</p>
      {data?.sent ? (
        <p role="status" className="max-w-md rounded-md bg-emerald-50 p-3 text-sm text-emerald-900 ring-1 ring-emerald-300">
          {SENT_MESSAGE}
        </p>
      ) : null}
      <Form method="post" action="/forgot-password" {...getFormProps(form)} className="card max-w-md space-y-4">
        <FormErrors errors={form.errors} id={form.errorId} />
        <Field meta={fields.email} label="Email" type="email" autoComplete="email" />
        <button type="submit" className="btn-primary w-full" disabled={navigation.state === "submitting"}>
          Send me a link
        </button>
      </Form>
      <p className="text-sm text-slate-700">
        Remembered it?{" "}
        <Link className="text-indigo-700 underline" to="/login">
          Log in
        </Link>
      </p>
    </div>
  );
}
