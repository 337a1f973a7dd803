import crypto from "node:crypto";
import { parseWithZod } from "@conform-to/zod";
import type { ActionFunctionArgs, LoaderFunctionArgs, MetaFunction } from "@remix-run/node";
import { json } from "@remix-run/node";
import type { ShouldRevalidateFunction } from "@remix-run/react";
import { useActionData, useLoaderData } from "@remix-run/react";
import { FormErrors } from "~/components/forms";
import { CreateRedeemCodeForm, DisableCodeConfirm, RedeemCodeTable } from "~/components/redeem-code-admin";
import { requireAdmin } from "~/services/auth.server";
import { createRedeemCode, disableRedeemCode, listRedeemCodes } from "~/services/money/redeem-codes.server";
import { getRuntime } from "~/services/runtime.server";
import { redirectWithToast } from "~/services/toast.server";
import { createRedeemCodeSchema, DisableRedeemCodeSchema, formatCode, formatLifetime } from "~/utils/redeem-code-schemas";

// /admin/credits/codes — redeem codes (decision 024): create one, see how often each was used,
// disable one (a confirm step: ?disable=<id>). Every change is audited by the service.

export const meta: MetaFunction = () => [{ title: "Redeem codes · Admin · Credits Studio" }];

/** A refused post changed nothing: keep the page's token so the form keeps what was typed. */
export const shouldRevalidate: ShouldRevalidateFunction = ({ actionStatus, defaultShouldRevalidate }) =>
  actionStatus !== undefined && actionStatus >= 400 ? false : defaultShouldRevalidate;

export async function loader({ request }: LoaderFunctionArgs) {
  await requireAdmin(request);
  const codes = await listRedeemCodes(getRuntime().db);
  const disableId = Number(new URL(request.url).searchParams.get("disable"));
  return json(
    {
      codes,
      disable: codes.find((c) => c.id === disableId && c.disabledAt === null) ?? null,
      // Fresh per page view: a double-submitted create form makes one code.
      token: crypto.randomBytes(18).toString("base64url"),
    },
    { headers: { "Cache-Control": "private, no-store" } },
  );
}

export async function action({ request }: ActionFunctionArgs) {
  const admin = await requireAdmin(request);
  const { db } = getRuntime();
  const formData = await request.formData();
  if (formData.get("intent") === "disable") {
    const submission = parseWithZod(formData, { schema: DisableRedeemCodeSchema });
    if (submission.status !== "success") return json({ intent: "disable" as const, result: submission.reply() }, { status: 400 });
    const result = await disableRedeemCode(db, { adminId: admin.id, codeId: submission.value.codeId });
    if (!result.ok) return json({ intent: "disable" as const, result: submission.reply({ formErrors: [result.message] }) }, { status: 400 });
    return redirectWithToast(request, "/admin/credits/codes", {
      kind: "success",
      title: `Code ${formatCode(result.code.code)} disabled`,
      description: `It was used ${result.code.redemptionCount} of ${result.code.maxRedemptions} times; those credits stay.`,
    });
  }
  const submission = parseWithZod(formData, { schema: createRedeemCodeSchema() });
  if (submission.status !== "success") return json({ intent: "create" as const, result: submission.reply() }, { status: 400 });
  const v = submission.value;
  const result = await createRedeemCode(db, {
    adminId: admin.id,
    code: v.code,
    credits: v.credits,
    creditsExpireAfterMs: v.creditsExpireAfter,
    maxRedemptions: v.maxRedemptions,
    redeemableUntil: v.redeemableUntil,
    token: v.token,
  });
  if (!result.ok) {
    const reply = result.reason === "code_taken" ? { fieldErrors: { code: [result.message] } } : { formErrors: [result.message] };
    return json({ intent: "create" as const, result: submission.reply(reply) }, { status: 400 });
  }
  const c = result.code;
  return redirectWithToast(request, "/admin/credits/codes", {
    kind: result.replayed ? "info" : "success",
    title: result.replayed ? `Already created: ${formatCode(c.code)}` : `Code ${formatCode(c.code)} created`,
    description: `${c.credits} credits each (expire after: ${formatLifetime(c.creditsExpireAfterMs)}), up to ${c.maxRedemptions} times.`,
  });
}

export default function RedeemCodes() {
  const { codes, disable, token } = useLoaderData<typeof loader>();
  const actionData = useActionData<typeof action>();
  const disableErrors = actionData?.intent === "disable" ? (actionData.result.error?.[""] ?? undefined) : undefined;
  return (
    <div className="space-y-6">
      <div>
        <h1 className="text-2xl font-bold">Redeem codes</h1>
        <p className="mt-1 text-slate-800">
          A code gives its credits to each account that redeems it, once per account, up to the number of times it may be used. Users redeem codes on
          their billing page.
        </p>
      </div>
      {disable ? <DisableCodeConfirm code={disable} errors={disableErrors} /> : <FormErrors errors={disableErrors} />}
      <CreateRedeemCodeForm key={token} token={token} lastResult={actionData?.intent === "create" ? actionData.result : undefined} />
      <section aria-labelledby="codes-heading" className="space-y-3">
        <h2 id="codes-heading" className="text-lg font-semibold">
          Codes
        </h2>
        <RedeemCodeTable codes={codes} />
      </section>
    </div>
  );
}
