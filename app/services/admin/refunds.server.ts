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
  purchase: sqlite.prepare<[number], Pick<Tx, "id" | "userId" | "type" | "amount" | "stripePaymentId">>(
    `SELECT id, user_id AS userId, type, amount, stripe_payment_id AS stripePaymentId FROM transactions WHERE id = ?`,
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
};

/** The user's most recent Stripe purchases that are not refunded in full yet. */
export function listRefundablePurchases(db: AppDb, userId: number, limit = 20): RefundablePurchase[] {
  return listPurchasesWithRefunds(db, userId, limit)
    .filter((p) => refundabilityOf({ type: "purchase", amount: p.amount, stripePaymentId: "known" }, p.takenBack).ok)
    .map((p) => ({
      id: p.id,
      createdAt: p.createdAt,
      credits: p.amount,
      description: p.description,
      refundedCredits: p.takenBack,
      ...amountPaidFor(p),
    }));
}

export type RefundInput = { adminId: number; userId: number; transactionId: number; reason: string; token: string };
export type RefundResult =
  | { ok: true; replayed: boolean; refundId: string; amount: number; currency: string; refundStatus: string | null }
  | { ok: false; reason: "not_refundable" | "stripe_error"; message: string };

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
          requestToken: input.token,
        }),
      })
      .run();
    return false;
  });
  return record.immediate();
}

/**
 * Asks Stripe to refund one of the user's purchases (in full) and records who asked and why.
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
  let refund: Stripe.Refund;
  try {
    refund = await requestStripeRefund(stripe, mine!, refundable.paymentIntentId, { requestToken: input.token });
  } catch (error) {
    if (error instanceof Stripe.errors.StripeError) return { ok: false, reason: "stripe_error", message: `Stripe refused the refund: ${error.message}` };
    throw error;
  }
  const replayed = auditRefund(db, input, mine!, refund);
  return { ok: true, replayed, refundId: refund.id, amount: refund.amount, currency: refund.currency, refundStatus: refund.status };
}
