/**
 * Subscription invoices → plan credits. Each paid invoice of an app subscription grants its plan's
 * credits once (a `plan` row keyed `invoice:<id>`), spendable until the end of the service period
 * it pays for (the LINE's period; the invoice's own period_start/end is the previous period). At a
 * paid renewal the previous period's plan credits are closed in the same transaction: their rest
 * expires, and up to the plan's rolloverCap of it comes back as a `plan` row (`rollover:<id>`)
 * that lasts the new period. A failed payment grants nothing and is recorded (and mailed) so the
 * billing page can say so; a later payment of the same invoice grants as usual.
 *
 * Facts are read from Stripe (readPlanInvoice: the invoice with its lines and payments, the
 * subscription when the invoice is thin) and applied inside the webhook's write body, on the
 * executor (decision 036: one SQL text for SQLite and PostgreSQL). The body takes the account's
 * row first (account-lock.server.ts), so deliveries of one invoice in parallel grant once and the
 * others answer already_granted. Why this shape: docs/decisions/023-subscriptions.md.
 */
import type Stripe from "stripe";
import type { PortableDb } from "#db/client.server";
import type { SqlRunner } from "#db/sql.server";
import { stripeIdOf } from "~/utils/stripe-ids";
import type { Config, CreditPlan } from "../env.server";
import { enqueueMail } from "../mail/mail-queue.server";
import { inWrite, type SqlTarget } from "../sql-target.server";
import { lockAccount } from "./account-lock.server";
import { closeGrant, grant, readByKey, type Tx } from "./ledger.server";
import { ledgerKeys } from "./ledger-keys.server";
import { planForPrice } from "./pricing.server";
import { paymentFailedMail } from "./subscription-mails.server";
import { subscriptionOwner } from "./subscriptions.server";

export type PlanInvoice = {
  invoiceId: string;
  subscriptionId: string;
  userId: number;
  plan: CreditPlan;
  status: Stripe.Invoice["status"];
  billingReason: Stripe.Invoice["billing_reason"];
  /** The service period the invoice pays for (its line's), in milliseconds. */
  periodStart: number;
  periodEnd: number;
  paymentIntentId: string | null;
  amountPaid: number;
  currency: string;
};

type Deps = { db: PortableDb; stripe: Stripe; config: Config };

/** The line that bills the subscription's item (the emulator's subscriptions have one). */
async function subscriptionLine(stripe: Stripe, invoice: Stripe.Invoice): Promise<Stripe.InvoiceLineItem | undefined> {
  const isItem = (l: Stripe.InvoiceLineItem) => l.parent?.type === "subscription_item_details";
  const line = invoice.lines?.data.find(isItem);
  if (line) return line;
  const lines = await stripe.invoices.listLineItems(invoice.id, { limit: 100 });
  return lines.data.find(isItem) ?? lines.data[0];
}

/** The PaymentIntent that paid the invoice (InvoicePayments: neither it nor its Charge names the invoice). */
async function paymentIntentOf(stripe: Stripe, invoice: Stripe.Invoice): Promise<string | null> {
  const payments = invoice.payments?.data ?? (await stripe.invoicePayments.list({ invoice: invoice.id, limit: 10 })).data;
  const paid = payments.find((p) => p.status === "paid") ?? payments[0];
  return stripeIdOf(paid?.payment.payment_intent) ?? null;
}

/**
 * What an invoice is to the app, read from Stripe as it is now. `ignore` for an invoice that is
 * not of an app subscription (no app metadata, a customer that is not the user's) or of a price
 * that is no configured plan.
 */
export async function readPlanInvoice(deps: Deps, invoiceId: string): Promise<{ ignore: string } | { invoice: PlanInvoice }> {
  const invoice = await deps.stripe.invoices.retrieve(invoiceId, { expand: ["payments"] });
  const details = invoice.parent?.subscription_details;
  const subscriptionId = stripeIdOf(details?.subscription);
  if (!subscriptionId) return { ignore: `invoice ${invoiceId} is not a subscription's` };
  const metadata = details?.metadata?.app ? details.metadata : (await deps.stripe.subscriptions.retrieve(subscriptionId)).metadata;
  const userId = await subscriptionOwner(deps.db, metadata, stripeIdOf(invoice.customer) ?? null);
  if (userId === null) return { ignore: `subscription ${subscriptionId} is not this app's (or not this customer's)` };
  const line = await subscriptionLine(deps.stripe, invoice);
  const plan = planForPrice(deps.config, stripeIdOf(line?.pricing?.price_details?.price));
  if (!line || !plan) return { ignore: `invoice ${invoiceId} bills no configured plan` };
  return {
    invoice: {
      invoiceId,
      subscriptionId,
      userId,
      plan,
      status: invoice.status,
      billingReason: invoice.billing_reason,
      periodStart: line.period.start * 1000,
      periodEnd: line.period.end * 1000,
      paymentIntentId: await paymentIntentOf(deps.stripe, invoice),
      amountPaid: invoice.amount_paid,
      currency: invoice.currency,
    },
  };
}

/**
 * The first invoice of a plan's Checkout Session (null: not paid yet), so the success page and
 * checkout.session.completed can grant it without waiting for invoice.paid (the same key: once).
 */
export async function readPlanCheckout(deps: Deps, session: Stripe.Checkout.Session): Promise<{ ignore: string } | { invoice: PlanInvoice | null }> {
  if (session.mode !== "subscription") return { ignore: `session ${session.id} is not a subscription's` };
  const invoiceId = stripeIdOf(session.invoice);
  if (!invoiceId) return { invoice: null };
  return readPlanInvoice(deps, invoiceId);
}

/** The subscription_periods row of an invoice, as named parameters of UPSERT_PERIOD / INSERT_FAILED. */
function periodRow(inv: PlanInvoice, status: "paid" | "failed", txId: number | null, now: number) {
  return {
    invoiceId: inv.invoiceId,
    subscriptionId: inv.subscriptionId,
    userId: inv.userId,
    planId: inv.plan.id,
    status,
    periodStart: inv.periodStart,
    periodEnd: inv.periodEnd,
    txId,
    paymentIntentId: inv.paymentIntentId,
    amountPaid: status === "paid" ? inv.amountPaid : 0,
    currency: inv.currency,
    now,
  };
}

const PERIOD_INSERT = `INSERT INTO subscription_periods (invoice_id, subscription_id, user_id, plan_id, status, period_start,
     period_end, tx_id, payment_intent_id, amount_paid, currency, created_at, updated_at)
   VALUES (@invoiceId, @subscriptionId, @userId, @planId, @status, @periodStart, @periodEnd, @txId, @paymentIntentId,
     @amountPaid, @currency, @now, @now)`;

const PERIOD_SQL = {
  // A paid period overwrites a failure recorded for the same invoice (a retry that succeeded).
  upsertPaid: `${PERIOD_INSERT}
   ON CONFLICT (invoice_id) DO UPDATE SET subscription_id = excluded.subscription_id, user_id = excluded.user_id,
     plan_id = excluded.plan_id, status = excluded.status, period_start = excluded.period_start,
     period_end = excluded.period_end, tx_id = excluded.tx_id, payment_intent_id = excluded.payment_intent_id,
     amount_paid = excluded.amount_paid, currency = excluded.currency, updated_at = excluded.updated_at`,
  // A failure is recorded once, and never over a paid period: no row back, nothing to mail.
  insertFailed: `${PERIOD_INSERT} ON CONFLICT (invoice_id) DO NOTHING RETURNING invoice_id AS "invoiceId"`,
  // The paid period of the subscription right after / right before a start.
  after: `SELECT invoice_id AS "invoiceId", period_start AS "periodStart", tx_id AS "txId" FROM subscription_periods
   WHERE subscription_id = ? AND status = 'paid' AND period_start > ? ORDER BY period_start ASC, invoice_id ASC LIMIT 1`,
  before: `SELECT invoice_id AS "invoiceId", period_start AS "periodStart", tx_id AS "txId" FROM subscription_periods
   WHERE subscription_id = ? AND status = 'paid' AND period_start < ? ORDER BY period_start DESC, invoice_id DESC LIMIT 1`,
} as const;

type Neighbour = { invoiceId: string; periodStart: number; txId: number | null };

/** The paid period of this subscription that comes right before or after `inv` (by start). */
function paidNeighbour(tx: SqlRunner, inv: PlanInvoice, side: "before" | "after"): Promise<Neighbour | undefined> {
  return tx.get<Neighbour>(side === "after" ? PERIOD_SQL.after : PERIOD_SQL.before, [inv.subscriptionId, inv.periodStart]);
}

/**
 * Closes the previous period's plan credits (its grant and what rolled into it) and rolls up to
 * the cap of their unspent rest into the period `inv` starts.
 */
async function rollOver(tx: SqlRunner, inv: PlanInvoice, now: number): Promise<{ expired: number; rolledOver: number }> {
  const previous = await paidNeighbour(tx, inv, "before");
  if (!previous?.txId) return { expired: 0, rolledOver: 0 };
  const sources = [previous.txId, (await readByKey(tx, ledgerKeys.planRollover(previous.invoiceId)))?.id].filter((id): id is number => typeof id === "number");
  let expired = 0;
  for (const sourceTxId of sources) expired += (await closeGrant(tx, { sourceTxId, now })).expired;
  const rolledOver = Math.min(expired, inv.plan.rolloverCap);
  if (rolledOver > 0) {
    await grant(tx, {
      userId: inv.userId,
      amount: rolledOver,
      type: "plan",
      key: ledgerKeys.planRollover(inv.invoiceId),
      description: `${inv.plan.name} plan: ${rolledOver} unused credits rolled over`,
      expiresAt: inv.periodEnd,
      meta: { invoiceId: inv.invoiceId, fromInvoiceId: previous.invoiceId, expired, rolloverCap: inv.plan.rolloverCap },
      now,
    });
  }
  return { expired, rolledOver };
}

export type PlanGrantResult =
  | { status: "granted" | "already_granted"; userId: number; credits: number; transaction: Tx; expired?: number; rolledOver?: number }
  | { status: "not_paid"; userId: number; credits: 0 };

/**
 * Grants a paid invoice's credits once. An invoice older than a period already granted (a late
 * delivery) extends nothing: the newer period's renewal is what ended it, so its grant (dated to
 * end no later than the newer period's start) is closed at once, and the ledger shows both rows.
 * Runs inside the write body `tx` (the webhook's, with the event's record), or a write of its own
 * when given the database.
 */
export async function grantPlanInvoice(target: SqlTarget, inv: PlanInvoice, now = Date.now()): Promise<PlanGrantResult> {
  if (inv.status !== "paid") return { status: "not_paid", userId: inv.userId, credits: 0 };
  return inWrite(target, async (tx) => {
    await lockAccount(tx, inv.userId);
    const key = ledgerKeys.planInvoice(inv.invoiceId);
    const earlier = await readByKey(tx, key);
    if (earlier) return { status: "already_granted", userId: inv.userId, credits: earlier.amount, transaction: earlier };
    return grantNew(tx, inv, key, now);
  });
}

async function grantNew(tx: SqlRunner, inv: PlanInvoice, key: string, now: number): Promise<PlanGrantResult> {
  const newer = await paidNeighbour(tx, inv, "after");
  const endsAt = newer ? Math.min(inv.periodEnd, newer.periodStart) : inv.periodEnd;
  const written = await grant(tx, {
    userId: inv.userId,
    amount: inv.plan.credits,
    type: "plan",
    key,
    description: `${inv.plan.name} plan: ${inv.plan.credits} credits for the period`,
    stripePaymentId: inv.paymentIntentId,
    // The ledger refuses a grant born expired; a superseded period's is closed right below.
    expiresAt: Math.max(endsAt, now + 1),
    meta: {
      invoiceId: inv.invoiceId,
      subscriptionId: inv.subscriptionId,
      plan: inv.plan.id,
      periodStart: inv.periodStart,
      periodEnd: inv.periodEnd,
      billingReason: inv.billingReason,
      amountTotal: inv.amountPaid,
      currency: inv.currency,
      ...(newer ? { supersededBy: newer.invoiceId } : {}),
    },
    now,
  });
  // Cannot happen behind the account's lock, but a replay must never close or roll over twice.
  if (written.replayed) return { status: "already_granted", userId: inv.userId, credits: written.transaction.amount, transaction: written.transaction };
  if (newer || endsAt <= now) await closeGrant(tx, { sourceTxId: written.transaction.id, now });
  const rolled = !newer && inv.billingReason === "subscription_cycle" ? await rollOver(tx, inv, now) : { expired: 0, rolledOver: 0 };
  await tx.run(PERIOD_SQL.upsertPaid, periodRow(inv, "paid", written.transaction.id, now));
  return { status: "granted", userId: inv.userId, credits: inv.plan.credits, transaction: written.transaction, ...rolled };
}

/**
 * Records a failed payment of an invoice and queues the mail that says so, together, inside the
 * write body `tx`. A period already paid stays paid (a late failure event of an invoice paid
 * since); a failure already recorded is not mailed twice (one INSERT … ON CONFLICT DO NOTHING:
 * parallel deliveries record and mail once).
 */
export async function recordFailedInvoice(
  config: Pick<Config, "appUrl">,
  inv: PlanInvoice,
  tx: SqlRunner,
  now = Date.now(),
): Promise<{ recorded: boolean }> {
  const inserted = await tx.get<{ invoiceId: string }>(PERIOD_SQL.insertFailed, periodRow(inv, "failed", null, now));
  if (!inserted) return { recorded: false };
  const user = await tx.get<{ email: string; deletedAt: number | null }>(`SELECT email, deleted_at AS "deletedAt" FROM users WHERE id = ?`, [inv.userId]);
  if (user && user.deletedAt === null) await enqueueMail(tx, user.email, "plan_payment_failed", paymentFailedMail(config.appUrl, inv.plan.name), now);
  return { recorded: true };
}
