import { getFormProps, getTextareaProps, useForm } from "@conform-to/react";
import { getZodConstraint, parseWithZod } from "@conform-to/zod";
import type { ActionFunctionArgs, LoaderFunctionArgs, MetaFunction } from "@remix-run/node";
import { json } from "@remix-run/node";
import { Form, Link, useActionData, useLoaderData } from "@remix-run/react";
import { FormErrors } from "~/components/forms";
import { formatUtc } from "~/components/history-table";
import { changeAccountHold } from "~/services/admin/account-holds.server";
import { getUserSummary } from "~/services/admin/user-list.server";
import { requireAdmin } from "~/services/auth.server";
import { getRuntime } from "~/services/runtime.server";
import { redirectWithToast } from "~/services/toast.server";
import { AccountHoldSchema, UserIdSchema } from "~/utils/admin-schemas";

// /admin/credits/:userId/hold — put an account on hold (no checkout, no generation) or lift a
// hold, with a reason kept in the audit log. A page of its own so the form works without JS and a
// refused submission shows its errors here; success goes back to the user's page with a toast.

export const meta: MetaFunction = () => [{ title: "Account hold · Admin · Credits Studio" }];

async function userOf(rawId: string | undefined) {
  const id = UserIdSchema.safeParse(rawId);
  const user = id.success ? await getUserSummary(getRuntime().db, id.data) : null;
  if (!user) throw new Response("No such user", { status: 404 });
  return user;
}

export async function loader({ request, params }: LoaderFunctionArgs) {
  await requireAdmin(request);
  const user = await userOf(params.userId);
  return json(
    { user: { id: user.id, email: user.email, flaggedAt: user.flaggedAt, flaggedReason: user.flaggedReason } },
    { headers: { "Cache-Control": "private, no-store" } },
  );
}

export async function action({ request, params }: ActionFunctionArgs) {
  const admin = await requireAdmin(request);
  const user = await userOf(params.userId);
  const submission = parseWithZod(await request.formData(), { schema: AccountHoldSchema });
  if (submission.status !== "success") return json({ result: submission.reply() }, { status: 400 });
  const result = await changeAccountHold(getRuntime().db, { adminId: admin.id, userId: user.id, action: submission.value.intent, reason: submission.value.reason });
  if (!result.ok) return json({ result: submission.reply({ formErrors: [result.message] }) }, { status: 400 });
  return redirectWithToast(request, `/admin/credits/${user.id}`, {
    kind: "success",
    title: result.action === "place" ? "Account put on hold" : "Account hold lifted",
    description: result.action === "place" ? "Checkout and generation are refused until the hold is lifted." : "The account can buy and generate again.",
  });
}

export default function AccountHold() {
  const { user } = useLoaderData<typeof loader>();
  const actionData = useActionData<typeof action>();
  const onHold = user.flaggedAt !== null;
  const [form, fields] = useForm({
    id: "account-hold",
    lastResult: actionData?.result,
    constraint: getZodConstraint(AccountHoldSchema),
    onValidate: ({ formData }) => parseWithZod(formData, { schema: AccountHoldSchema }),
    shouldValidate: "onSubmit",
    shouldRevalidate: "onInput",
  });
  return (
    <div className="space-y-4">
      <p className="text-sm">
        <Link to={`/admin/credits/${user.id}`} className="text-indigo-700 underline">
          Back to {user.email}
        </Link>
      </p>
      <h1 className="text-2xl font-bold">{onHold ? "Lift the account hold" : "Put the account on hold"}</h1>
      <p className="text-slate-800" data-testid="hold-state">
        {onHold
          ? `${user.email} is on hold since ${formatUtc(user.flaggedAt!)} UTC: ${user.flaggedReason ?? "no reason recorded"}.`
          : `${user.email} is not on hold. On hold, an account can log in but cannot buy credits or generate.`}
      </p>
      <Form method="post" {...getFormProps(form)} className="card max-w-xl space-y-4">
        <FormErrors errors={form.errors} id={form.errorId} />
        <input type="hidden" name="intent" value={onHold ? "lift" : "place"} />
        <div>
          <label htmlFor={fields.reason.id} className="label">
            Reason (kept in the audit log)
          </label>
          <textarea {...getTextareaProps(fields.reason)} rows={3} className="input mt-1 w-full" />
          <p id={fields.reason.errorId} className="field-error" role={fields.reason.errors ? "alert" : undefined}>
            {fields.reason.errors?.join(" ") ?? ""}
          </p>
        </div>
        <button type="submit" className={onHold ? "btn-primary" : "btn-danger"}>
          {onHold ? "Lift the hold" : "Put on hold"}
        </button>
      </Form>
    </div>
  );
}
