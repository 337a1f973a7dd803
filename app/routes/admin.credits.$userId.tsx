import crypto from "node:crypto";
import { parseWithZod } from "@conform-to/zod";
import type { ActionFunctionArgs, LoaderFunctionArgs, MetaFunction } from "@remix-run/node";
import type { ShouldRevalidateFunction } from "@remix-run/react";
import { json } from "@remix-run/node";
import { Form, Link, useActionData, useLoaderData, useLocation } from "@remix-run/react";
import { AdjustCreditsForm, RefundPurchaseForm } from "~/components/admin-forms";
import { AdminUserGenerations } from "~/components/admin-user-generations";
import { formatCredits, formatUtc, HistoryTable, Pager, withParams } from "~/components/history-table";
import { adminResendVerification } from "~/services/accounts/verification.server";
import { adjustCredits, largeAdjustmentThreshold } from "~/services/admin/adjustments.server";
import { listRefundablePurchases, requestRefund } from "~/services/admin/refunds.server";
import { listRecentGenerations } from "~/services/admin/user-generations.server";
import { getUserSummary } from "~/services/admin/user-list.server";
import { requireAdmin } from "~/services/auth.server";
import { listHistoryPage, parseHistoryQuery } from "~/services/billing-dashboard.server";
import { getRuntime } from "~/services/runtime.server";
import { getStripeContext } from "~/services/stripe.server";
import { redirectWithToast } from "~/services/toast.server";
import { formatMoney } from "~/utils/format";
import { AdjustCreditsSchema, refundPurchaseSchema, UserIdSchema } from "~/utils/admin-schemas";

export const meta: MetaFunction<typeof loader> = ({ data }) => [
  { title: `${data && "user" in data && data.user ? data.user.email : "User"} · Admin · Credits Studio` },
];

function formToken(): string {
  return crypto.randomBytes(18).toString("base64url");
}

function moneyOrNull(minor: number | null, currency: string | null): string | null {
  return minor === null || !currency ? null : formatMoney(minor, currency);
}

/** A refused post (400) changed nothing: keep the page's data, and so its form tokens, so the form
 * keeps what was typed and its errors. After a change the page reloads with fresh tokens, and the
 * forms (keyed on them) start empty: an applied form cannot be applied again by accident. */
export const shouldRevalidate: ShouldRevalidateFunction = ({ actionStatus, defaultShouldRevalidate }) =>
  actionStatus !== undefined && actionStatus >= 400 ? false : defaultShouldRevalidate;

export async function loader({ request, params }: LoaderFunctionArgs) {
  await requireAdmin(request);
  const { db } = getRuntime();
  const parsedId = UserIdSchema.safeParse(params.userId);
  const user = parsedId.success ? await getUserSummary(db, parsedId.data) : null;
  // Not thrown: after a POST for an unknown user the page still shows the action's error.
  if (!user) return json({ notFound: true as const, userId: params.userId ?? "" }, { status: 404 });
  const url = new URL(request.url);
  const query = parseHistoryQuery(url);
  const refundParam = Number(url.searchParams.get("refund"));
  return json(
    {
      notFound: false as const,
      user,
      history: await listHistoryPage(db, { userId: user.id, type: query.type, older: query.older, newer: query.newer, forAdmin: true }),
      purchases: (await listRefundablePurchases(db, user.id)).map((p) => ({ ...p, price: moneyOrNull(p.amountTotal, p.currency) })),
      generations: await listRecentGenerations(db, user.id),
      selectedRefund: Number.isSafeInteger(refundParam) && refundParam > 0 ? refundParam : null,
      // Fresh per page view: the token is the change's idempotency key, so submitting this very
      // form twice makes one change.
      adjustToken: formToken(),
      largeThreshold: largeAdjustmentThreshold(),
      refundToken: formToken(),
    },
    { headers: { "Cache-Control": "private, no-store" } },
  );
}

export async function action({ request, params }: ActionFunctionArgs) {
  const admin = await requireAdmin(request);
  const { db } = getRuntime();
  const formData = await request.formData();
  const rawIntent = formData.get("intent");
  const intent = rawIntent === "refund" ? "refund" : rawIntent === "resend_verification" ? "resend_verification" : "adjust";
  const parsedId = UserIdSchema.safeParse(params.userId);
  const userId = parsedId.success && (await getUserSummary(db, parsedId.data)) ? parsedId.data : null;
  const here = `/admin/credits/${userId}`;

  if (intent === "resend_verification") {
    if (userId === null) return json({ intent, result: { status: "error" as const, error: { "": [`No user with id ${params.userId}: nothing was sent.`] } } }, { status: 400 });
    const result = await adminResendVerification(db, getRuntime().config, { adminId: admin.id, userId });
    return redirectWithToast(
      request,
      here,
      result.ok
        ? { kind: "success", title: "Verification e-mail queued", description: `A new confirmation link goes to ${result.email}.` }
        : { kind: "info", title: "Nothing sent", description: result.message },
    );
  }

  if (intent === "refund") {
    const left = userId === null ? [] : await listRefundablePurchases(db, userId);
    const schema = refundPurchaseSchema(Object.fromEntries(left.map((p) => [p.id, p.leftToRefund])));
    const submission = parseWithZod(formData, { schema });
    if (submission.status !== "success") return json({ intent, result: submission.reply() }, { status: 400 });
    if (userId === null) {
      return json({ intent, result: submission.reply({ formErrors: [`No user with id ${params.userId}: nothing was changed.`] }) }, { status: 400 });
    }
    const result = await requestRefund(db, getStripeContext().stripe, {
      adminId: admin.id,
      userId,
      transactionId: submission.value.transactionId,
      reason: submission.value.reason,
      token: submission.value.token,
      amountCents: submission.value.amount,
    });
    if (!result.ok) {
      const reply: { fieldErrors?: Record<string, string[]>; formErrors?: string[] } =
        result.reason === "not_refundable"
          ? { fieldErrors: { transactionId: [result.message] } }
          : result.reason === "amount_too_large"
            ? { fieldErrors: { amount: [result.message] } }
            : { formErrors: [result.message] };
      return json({ intent, result: submission.reply(reply) }, { status: 400 });
    }
    return redirectWithToast(request, here, {
      kind: "info",
      title: result.replayed ? "This refund was already requested" : "Refund requested",
      description: `${formatMoney(result.amount, result.currency)} (${result.refundId}). The credits are taken back when Stripe confirms the refund.`,
    });
  }

  const submission = parseWithZod(formData, { schema: AdjustCreditsSchema });
  if (submission.status !== "success") return json({ intent, result: submission.reply() }, { status: 400 });
  if (userId === null) {
    return json({ intent, result: submission.reply({ formErrors: [`No user with id ${params.userId}: nothing was changed.`] }) }, { status: 400 });
  }
  const { amount, type, reason, token, expiresAfter } = submission.value;
  const result = await adjustCredits(db, { adminId: admin.id, userId, amount, type, reason, token, expiresAfterMs: expiresAfter });
  if (result.ok) {
    const tx = result.transaction;
    const what = `${formatCredits(tx.amount, true)} credits (${tx.type}), balance ${formatCredits(tx.balanceAfter)}`;
    return redirectWithToast(
      request,
      here,
      result.replayed
        ? { kind: "info", title: "Already applied", description: `This form was submitted twice; the change was made once: ${what}.` }
        : { kind: "success", title: "Balance changed", description: what },
    );
  }
  switch (result.reason) {
    case "insufficient_credits":
      return json(
        {
          intent,
          result: submission.reply({
            fieldErrors: {
              amount: [
                `The balance is ${formatCredits(result.balance)} credits: removing ${formatCredits(result.needed)} would take it below zero. Nothing was changed.`,
              ],
            },
          }),
        },
        { status: 400 },
      );
    case "token_reused":
      return json(
        { intent, result: submission.reply({ formErrors: ["This form was already used for a different change. Reload the page, check the balance, and try again."] }) },
        { status: 400 },
      );
    case "user_not_found":
      return json({ intent, result: submission.reply({ formErrors: [`No user with id ${params.userId}: nothing was changed.`] }) }, { status: 400 });
  }
}

export default function AdminUser() {
  const data = useLoaderData<typeof loader>();
  const actionData = useActionData<typeof action>();
  const location = useLocation();
  if (data.notFound) {
    return (
      <div className="space-y-4">
        <h1 className="text-2xl font-bold">User not found</h1>
        {actionData?.result.error?.[""]?.length ? (
          <p role="alert" className="rounded-md bg-red-50 p-3 text-sm text-red-900 ring-1 ring-red-300">
            {actionData.result.error[""].join(" ")}
          </p>
        ) : null}
        <p className="text-slate-800">There is no user with id “{data.userId}”.</p>
        <Link to="/admin/credits" className="text-indigo-700 underline">
          Back to the users
        </Link>
      </div>
    );
  }
  const { user, history, purchases, generations, adjustToken, refundToken, selectedRefund } = data;
  const refundable = new Set(purchases.map((p) => p.id));
  return (
    <div className="space-y-6">
      <div>
        <p className="text-sm">
          <Link to="/admin/credits" className="text-indigo-700 underline">
            Users
          </Link>{" "}
          / user #{user.id}
        </p>
        <h1 className="mt-1 break-all text-2xl font-bold">{user.email}</h1>
      </div>
      <section aria-labelledby="summary-heading" className="card">
        <h2 id="summary-heading" className="sr-only">
          Summary
        </h2>
        <dl className="grid grid-cols-2 gap-4 sm:grid-cols-3">
          <div>
            <dt className="text-sm text-slate-700">Balance</dt>
            <dd className="text-2xl font-bold tabular-nums" data-testid="admin-user-balance">
              {formatCredits(user.credits)} credits
            </dd>
          </div>
          <div>
            <dt className="text-sm text-slate-700">On hold</dt>
            <dd className="text-lg font-semibold tabular-nums">{formatCredits(user.onHold)}</dd>
          </div>
          <div>
            <dt className="text-sm text-slate-700">Total purchased</dt>
            <dd className="text-lg font-semibold tabular-nums">{formatCredits(user.purchased)}</dd>
          </div>
          <div>
            <dt className="text-sm text-slate-700">Signed up</dt>
            <dd className="tabular-nums">{formatUtc(user.createdAt)} UTC</dd>
          </div>
          <div>
            <dt className="text-sm text-slate-700">Last activity</dt>
            <dd className="tabular-nums">{user.lastActivity ? `${formatUtc(user.lastActivity)} UTC` : "—"}</dd>
          </div>
          <div>
            <dt className="text-sm text-slate-700">Role</dt>
            <dd>{user.role}</dd>
          </div>
          <div>
            <dt className="text-sm text-slate-700">E-mail address</dt>
            <dd data-testid="admin-user-verified">
              {user.emailVerifiedAt ? `Confirmed ${formatUtc(user.emailVerifiedAt)} UTC` : "Not confirmed"}
            </dd>
          </div>
        </dl>
        {user.emailVerifiedAt ? null : (
          <Form method="post" className="mt-3">
            <input type="hidden" name="intent" value="resend_verification" />
            <button type="submit" className="btn-secondary">
              Send the verification e-mail again
            </button>
          </Form>
        )}
        {user.flaggedAt ? (
          <p className="mt-3 text-sm font-semibold text-red-800">
            Account on hold since {formatUtc(user.flaggedAt)} UTC: {user.flaggedReason}
          </p>
        ) : null}
        <p className="mt-3 flex flex-wrap gap-4 text-sm">
          <Link to={`/admin/credits/audit?user=${user.id}`} className="text-indigo-700 underline">
            Audit log of this user
          </Link>
          <Link to={`/admin/credits/${user.id}/hold`} className="text-indigo-700 underline">
            {user.flaggedAt ? "Lift the account hold" : "Put the account on hold"}
          </Link>
        </p>
      </section>
      <div className="grid gap-6 lg:grid-cols-2">
        <AdjustCreditsForm
          key={adjustToken}
          token={adjustToken}
          largeThreshold={data.largeThreshold}
          lastResult={actionData?.intent === "adjust" ? actionData.result : undefined}
        />
        <RefundPurchaseForm
          key={refundToken}
          token={refundToken}
          purchases={purchases}
          selected={selectedRefund}
          lastResult={actionData?.intent === "refund" ? actionData.result : undefined}
        />
      </div>
      <section aria-labelledby="generations-heading" className="space-y-3">
        <h2 id="generations-heading" className="text-lg font-semibold">
          Generations
        </h2>
        <AdminUserGenerations rows={generations.rows} total={generations.total} />
      </section>
      <section aria-labelledby="ledger-heading" className="space-y-3">
        <h2 id="ledger-heading" className="text-lg font-semibold">
          Ledger
        </h2>
        <HistoryTable
          id="admin-ledger"
          caption="Every credit movement of this user, newest first, with who made manual changes and why."
          rows={history.rows}
          admin
          refundHref={(row) => (refundable.has(row.id) ? `${withParams(location.search, { refund: row.id })}#refund` : null)}
        />
        <Pager
          label="Ledger pages"
          first={history.newer ? withParams(location.search, { older: null, newer: null }) : null}
          previous={history.newer ? withParams(location.search, { newer: history.newer, older: null }) : null}
          next={history.older ? withParams(location.search, { older: history.older, newer: null }) : null}
        />
      </section>
    </div>
  );
}
