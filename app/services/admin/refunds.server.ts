/**
 * An admin refunds a purchase: which purchases can be refunded, and the request to Stripe with
 * its audit row. Credits are not touched here: Stripe's charge.refunded webhook takes them back
 * (money/clawbacks.server.ts), the one place refunds are applied.
 */
import Stripe from "stripe";
import type { PortableDb } from "#db/client.server";
import type { SqlRunner } from "#db/sql.server";
import { AUDIT_ACTIONS } from "~/utils/admin-schemas";
import { parseJsonObject } from "~/utils/json";
import { lockAccount } from "../money/account-lock.server";
import type { Tx } from "../money/ledger.server";
import { amountPaidFor, readCreditsTakenBack, readPurchasesWithRefunds, refundabilityOf } from "../money/payment-queries.server";
import { requestStripeRefund } from "../money/refund-request.server";

// Portable SQL (decision 036): JSON fields are decoded in JS, not with json_extract.
const SQL = {
  purchase: `SELECT id, user_id AS "userId", type, amount, stripe_payment_id AS "stripePaymentId", meta FROM transactions WHERE id = ?`,
  // The refund rows of a payment, with the purchase they take from (their meta says the charge's
  // cumulative refunded money, as each charge.refunded webhook reported it).
  refundMetas: (purchases: number) =>
    `SELECT p.id AS "purchaseId", r.meta AS meta
     FROM transactions p JOIN transactions r ON r.stripe_payment_id = p.stripe_payment_id AND r.type = 'refund'
     WHERE p.id IN (${Array.from({ length: purchases }, () => "?").join(", ")})`,
  // The refund requests audited for a user (few: one per refund an admin asked for).
  refundAudits: `SELECT details FROM audit_log WHERE target_user_id = ? AND action = ? ORDER BY id`,
  insertAudit: `INSERT INTO audit_log (actor_id, action, target_user_id, reason, details, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
} as const;

type PurchaseRow = Pick<Tx, "id" | "userId" | "type" | "amount" | "stripePaymentId" | "meta">;

export type RefundablePurchase = {
  id: number;
  createdAt: number;
  credits: number;
  description: string;
  refundedCredits: number;
  /** What the customer paid, in the currency's minor unit, when the purchase recorded it. */
  amountTotal: number | null;
  currency: string | null;
  /** Money still refundable (minor unit): what was paid less what Stripe has confirmed refunded. */
  leftToRefund: number | null;
};

/** For each purchase: the charge's cumulative refunded money the latest charge.refunded reported. */
async function moneyRefundedOf(db: PortableDb, purchaseIds: readonly number[]): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  if (purchaseIds.length === 0) return out;
  const rows = await db.sql.all<{ purchaseId: number; meta: string | null }>(SQL.refundMetas(purchaseIds.length), [...purchaseIds]);
  for (const r of rows) {
    const cents = parseJsonObject(r.meta).amountRefunded;
    if (typeof cents === "number" && cents > (out.get(r.purchaseId) ?? 0)) out.set(r.purchaseId, cents);
  }
  return out;
}

/** Money of a payment not refunded yet, or null when the purchase did not record what was paid. */
function moneyLeft(amountTotal: number | null, refunded: number): number | null {
  if (amountTotal === null) return null;
  return Math.max(0, amountTotal - refunded);
}

/** The user's most recent Stripe purchases that are not refunded in full yet. */
export async function listRefundablePurchases(db: PortableDb, userId: number, limit = 20): Promise<RefundablePurchase[]> {
  const purchases = (await readPurchasesWithRefunds(db, userId, limit)).filter(
    (p) => refundabilityOf({ type: "purchase", amount: p.amount, stripePaymentId: "known" }, p.takenBack).ok,
  );
  const refunded = await moneyRefundedOf(db, purchases.map((p) => p.id));
  return purchases.map((p) => {
    const paid = amountPaidFor(p);
    return {
      id: p.id,
      createdAt: p.createdAt,
      credits: p.amount,
      description: p.description,
      refundedCredits: p.takenBack,
      ...paid,
      leftToRefund: moneyLeft(paid.amountTotal, refunded.get(p.id) ?? 0),
    };
  });
}

export type RefundInput = {
  adminId: number;
  userId: number;
  transactionId: number;
  reason: string;
  token: string;
  /** A partial refund (minor unit); absent refunds what is left of the payment. */
  amountCents?: number;
};
export type RefundResult =
  | { ok: true; replayed: boolean; refundId: string; amount: number; currency: string; refundStatus: string | null }
  | { ok: false; reason: "not_refundable" | "amount_too_large" | "stripe_error"; message: string };

/** The details of the user's audited refund requests, decoded. */
async function refundAuditsOf(q: SqlRunner, userId: number): Promise<Array<Record<string, unknown>>> {
  const rows = await q.all<{ details: string | null }>(SQL.refundAudits, [userId, AUDIT_ACTIONS.refund]);
  return rows.map((r) => parseJsonObject(r.details));
}

/** The result a form token already produced, if it was sent before. */
async function earlierRequest(db: PortableDb, input: RefundInput): Promise<RefundResult | undefined> {
  const d = (await refundAuditsOf(db.sql, input.userId)).find((a) => a.requestToken === input.token && a.transactionId === input.transactionId);
  if (!d) return undefined;
  return {
    ok: true,
    replayed: true,
    refundId: String(d.refundId),
    amount: Number(d.amount),
    currency: String(d.currency),
    refundStatus: typeof d.refundStatus === "string" ? d.refundStatus : null,
  };
}

/**
 * Writes who asked for a refund and why, once per Stripe refund; true when it was there already.
 * The target's row is locked first, so two submits that reach here at once (the same form token
 * is the same Stripe refund) write one row on PostgreSQL as on SQLite.
 */
async function auditRefund(db: PortableDb, input: RefundInput, purchase: Pick<Tx, "id" | "stripePaymentId">, refund: Stripe.Refund, now = Date.now()): Promise<boolean> {
  return db.sql.write(async (tx) => {
    await lockAccount(tx, input.userId);
    const audits = await refundAuditsOf(tx, input.userId);
    if (audits.some((a) => a.refundId === refund.id)) return true;
    await tx.run(SQL.insertAudit, [
      input.adminId,
      AUDIT_ACTIONS.refund,
      input.userId,
      input.reason.trim(),
      JSON.stringify({
        transactionId: purchase.id,
        refundId: refund.id,
        amount: refund.amount,
        currency: refund.currency,
        refundStatus: refund.status,
        paymentIntent: purchase.stripePaymentId,
        // What the admin asked for: null is "all that is left" (a full refund).
        requestedAmount: input.amountCents ?? null,
        requestToken: input.token,
      }),
      now,
    ]);
    return false;
  });
}

/**
 * Asks Stripe to refund one of the user's purchases (all that is left of it, or `amountCents`)
 * and records who asked, how much and why.
 * The form token is the Stripe idempotency key: a double submit is one refund, and the same form
 * again answers its first result, even if Stripe has refunded the payment since.
 */
export async function requestRefund(db: PortableDb, stripe: Stripe, input: RefundInput): Promise<RefundResult> {
  const earlier = await earlierRequest(db, input);
  if (earlier) return earlier;
  const purchase = await db.sql.get<PurchaseRow>(SQL.purchase, [input.transactionId]);
  const mine = purchase && purchase.userId === input.userId ? purchase : undefined;
  const refundable = refundabilityOf(mine, mine?.stripePaymentId ? await readCreditsTakenBack(db, mine.stripePaymentId) : 0);
  if (!refundable.ok) {
    const message =
      refundable.reason === "refunded_in_full"
        ? `Purchase #${input.transactionId} is already refunded in full.`
        : `Transaction #${input.transactionId} is not a Stripe purchase of this user.`;
    return { ok: false, reason: "not_refundable", message };
  }
  if (input.amountCents !== undefined) {
    const left = moneyLeft(amountPaidFor(mine!).amountTotal, (await moneyRefundedOf(db, [mine!.id])).get(mine!.id) ?? 0);
    if (left !== null && input.amountCents > left) {
      return { ok: false, reason: "amount_too_large", message: `At most ${(left / 100).toFixed(2)} is left to refund on this purchase.` };
    }
  }
  let refund: Stripe.Refund;
  try {
    refund = await requestStripeRefund(stripe, mine!, refundable.paymentIntentId, {
      requestToken: input.token,
      amountCents: input.amountCents,
    });
  } catch (error) {
    if (error instanceof Stripe.errors.StripeError) return { ok: false, reason: "stripe_error", message: `Stripe refused the refund: ${error.message}` };
    throw error;
  }
  const replayed = await auditRefund(db, input, mine!, refund);
  return { ok: true, replayed, refundId: refund.id, amount: refund.amount, currency: refund.currency, refundStatus: refund.status };
}
