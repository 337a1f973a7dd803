import { getFormProps, useForm } from "@conform-to/react";
import { getZodConstraint, parseWithZod } from "@conform-to/zod";
import type { ActionFunctionArgs, LoaderFunctionArgs, MetaFunction } from "@remix-run/node";
import { json } from "@remix-run/node";
import { Form, useActionData, useLoaderData } from "@remix-run/react";
import { ConfirmRevoke, KeyTable, NewKey } from "~/components/api-key-list";
import { Field, FormErrors } from "~/components/forms";
import { issueApiKey, listApiKeys, revokeApiKey } from "~/services/api-keys/api-keys.server";
import { requireUser } from "~/services/auth.server";
import { getRuntime } from "~/services/runtime.server";
import { redirectWithToast } from "~/services/toast.server";
import { ApiKeyCreateFormSchema, ApiKeyRevokeFormSchema } from "~/utils/api-key-schemas";

// /settings/api-keys — create a key (shown once, in the answer to the form post and nowhere
// else), see each key's spend this month, revoke one (a confirmation step, then a real form).

export const meta: MetaFunction = () => [{ title: "API keys · Credits Studio" }];

const NO_STORE = { "Cache-Control": "private, no-store" };

export async function loader({ request }: LoaderFunctionArgs) {
  const user = await requireUser(request);
  const keys = await listApiKeys(getRuntime().db, user.id);
  const revoke = Number(new URL(request.url).searchParams.get("revoke"));
  return json({ keys, confirm: keys.find((k) => k.id === revoke) ?? null }, { headers: NO_STORE });
}

export async function action({ request }: ActionFunctionArgs) {
  const user = await requireUser(request);
  const formData = await request.formData();
  const { db } = getRuntime();
  if (formData.get("intent") === "revoke") {
    const parsed = ApiKeyRevokeFormSchema.safeParse(Object.fromEntries(formData));
    const revoked = parsed.success ? await revokeApiKey(db, { userId: user.id, id: parsed.data.id }) : { ok: false };
    if (!revoked.ok) throw new Response("No such API key", { status: 404 });
    return redirectWithToast(request, "/settings/api-keys", { kind: "success", title: "API key revoked", description: "Requests made with it are refused from now on." });
  }
  const submission = parseWithZod(formData, { schema: ApiKeyCreateFormSchema });
  if (submission.status !== "success") return json({ result: submission.reply(), issued: null }, { status: 400, headers: NO_STORE });
  const issued = await issueApiKey(db, { userId: user.id, name: submission.value.name, monthlyCreditLimit: submission.value.monthlyCreditLimit ?? null });
  return json({ result: submission.reply({ resetForm: true }), issued: { key: issued.key, name: issued.name } }, { headers: NO_STORE });
}

export default function ApiKeys() {
  const { keys, confirm } = useLoaderData<typeof loader>();
  const actionData = useActionData<typeof action>();
  const [form, fields] = useForm({
    id: "create-api-key",
    lastResult: actionData?.result,
    constraint: getZodConstraint(ApiKeyCreateFormSchema),
    onValidate: ({ formData }) => parseWithZod(formData, { schema: ApiKeyCreateFormSchema }),
    shouldValidate: "onSubmit",
    shouldRevalidate: "onInput",
  });
  return (
    <div className="space-y-6">
      <h1 className="text-2xl font-bold">API keys</h1>
      <p className="max-w-2xl text-slate-800">
        A key lets a script, a backend or an app call the JSON API as you (see <a className="text-indigo-700 underline" href="/api/openapi.json">the API description</a>): it
        spends your credits, under the same rules as this site, and never more in a calendar month (UTC) than its limit.
      </p>
      {actionData?.issued ? <NewKey issued={actionData.issued} /> : null}
      {confirm ? <ConfirmRevoke apiKey={confirm} /> : null}
      <Form method="post" {...getFormProps(form)} className="card max-w-xl space-y-4">
        <h2 className="text-lg font-semibold">Create a key</h2>
        <FormErrors errors={form.errors} id={form.errorId} />
        <input type="hidden" name="intent" value="create" />
        <Field meta={fields.name} label="Name" hint="What uses it, e.g. “nightly thumbnails”." autoComplete="off" />
        <Field
          meta={fields.monthlyCreditLimit}
          label="Monthly credit limit (optional)"
          type="number"
          inputMode="numeric"
          hint="Leave empty for no limit but your balance."
        />
        <button type="submit" className="btn-primary">
          Create key
        </button>
      </Form>
      <KeyTable keys={keys} />
    </div>
  );
}
