/**
 * An admin refunds a purchase: which purchases can be refunded, and the request to Stripe with
 * its audit row. Credits are not touched here: Stripe's charge.refunded webhook takes them back
 * (money/clawbacks.server.ts), the one place refunds are applied.
 */
import Stripe from "stripe";
import type { AppDb } from "#db/client.server";
import { perConnection } from "#db/prepared.server";
import { auditLog } from "#db/schema";
import { AUDIT_ACTIONS } from "~/utils/admin-schemas";
import { parseJsonObject } from "~/utils/json";
import { amountPaidFor, creditsTakenBack, listPurchasesWithRefunds, refundabilityOf } from "../money/payment-queries.server";
import { requestStripeRefund } from "../money/refund-request.server";
import type { Tx } from "../money/ledger.server";

const stmts = perConnection((sqlite) => ({
  purchase: sqlite.prepare<[number], Pick<Tx, "id" | "userId" | "type" | "amount" | "stripePaymentId" | "meta">>(
    `SELECT id, user_id AS userId, type, amount, stripe_payment_id AS stripePaymentId, meta FROM transactions WHERE id = ?`,
  ),
  // The charge's cumulative refunded money, as the latest charge.refunded webhook reported it.
  moneyRefunded: sqlite.prepare<[number], { cents: number | null }>(
    `SELECT max(json_extract(r.meta, '$.amountRefunded')) AS cents
     FROM transactions p JOIN transactions r ON r.stripe_payment_id = p.stripe_payment_id AND r.type = 'refund'
     WHERE p.id = ?`,
  ),
  refundAudited: sqlite.prepare<[number, string, string], { id: number }>(
    `SELECT id FROM audit_log WHERE target_user_id = ? AND action = ? AND json_extract(details, '$.refundId') = ?`,
  ),
  refundRequested: sqlite.prepare<[number, string, string, number], { details: string }>(
    `SELECT details FROM audit_log WHERE target_user_id = ? AND action = ?
       AND json_extract(details, '$.requestToken') = ? AND json_extract(details, '$.transactionId') = ?`,
  ),
}));

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

/** Money of a payment not refunded yet, or null when the purchase did not record what was paid. */
function moneyLeft(db: AppDb, purchaseId: number, amountTotal: number | null): number | null {
  if (amountTotal === null) return null;
  return Math.max(0, amountTotal - (stmts(db).moneyRefunded.get(purchaseId)?.cents ?? 0));
}

/** The user's most recent Stripe purchases that are not refunded in full yet. */
export function listRefundablePurchases(db: AppDb, userId: number, limit = 20): RefundablePurchase[] {
  return listPurchasesWithRefunds(db, userId, limit)
    .filter((p) => refundabilityOf({ type: "purchase", amount: p.amount, stripePaymentId: "known" }, p.takenBack).ok)
    .map((p) => {
      const paid = amountPaidFor(p);
      return {
        id: p.id,
        createdAt: p.createdAt,
        credits: p.amount,
        description: p.description,
        refundedCredits: p.takenBack,
        ...paid,
        leftToRefund: moneyLeft(db, p.id, paid.amountTotal),
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

/** The result a form token already produced, if it was sent before. */
function earlierRequest(db: AppDb, input: RefundInput): RefundResult | undefined {
  const earlier = stmts(db).refundRequested.get(input.userId, AUDIT_ACTIONS.refund, input.token, input.transactionId);
  if (!earlier) return undefined;
  const d = parseJsonObject(earlier.details);
  return {
    ok: true,
    replayed: true,
    refundId: String(d.refundId),
    amount: Number(d.amount),
    currency: String(d.currency),
    refundStatus: typeof d.refundStatus === "string" ? d.refundStatus : null,
  };
}

/** Writes who asked for a refund and why, once per Stripe refund; true when it was there already. */
function auditRefund(db: AppDb, input: RefundInput, purchase: Pick<Tx, "id" | "stripePaymentId">, refund: Stripe.Refund): boolean {
  const record = db.sqlite.transaction((): boolean => {
    if (stmts(db).refundAudited.get(input.userId, AUDIT_ACTIONS.refund, refund.id)) return true;
    db.orm
      .insert(auditLog)
      .values({
        actorId: input.adminId,
        action: AUDIT_ACTIONS.refund,
        targetUserId: input.userId,
        reason: input.reason.trim(),
        details: JSON.stringify({
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
      })
      .run();
    return false;
  });
  return record.immediate();
}

/**
 * Asks Stripe to refund one of the user's purchases (all that is left of it, or `amountCents`)
 * and records who asked, how much and why.
 * The form token is the Stripe idempotency key: a double submit is one refund, and the same form
 * again answers its first result, even if Stripe has refunded the payment since.
 */
export async function requestRefund(db: AppDb, stripe: Stripe, input: RefundInput): Promise<RefundResult> {
  const earlier = earlierRequest(db, input);
  if (earlier) return earlier;
  const purchase = stmts(db).purchase.get(input.transactionId);
  const mine = purchase && purchase.userId === input.userId ? purchase : undefined;
  const refundable = refundabilityOf(mine, mine?.stripePaymentId ? creditsTakenBack(db, mine.stripePaymentId) : 0);
  if (!refundable.ok) {
    const message =
      refundable.reason === "refunded_in_full"
        ? `Purchase #${input.transactionId} is already refunded in full.`
        : `Transaction #${input.transactionId} is not a Stripe purchase of this user.`;
    return { ok: false, reason: "not_refundable", message };
  }
  if (input.amountCents !== undefined) {
    const left = moneyLeft(db, mine!.id, amountPaidFor(mine!).amountTotal);
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
  const replayed = auditRefund(db, input, mine!, refund);
  return { ok: true, replayed, refundId: refund.id, amount: refund.amount, currency: refund.currency, refundStatus: refund.status };
}
