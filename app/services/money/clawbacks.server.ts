/**
 * What a refund or a dispute takes back. Both take the same share of the purchase's credits as
 * the share of its money that left (pricing.server.ts `creditsShare`), never more than what is left
 * of the purchase, keyed so that a replayed or late event takes nothing twice. A dispute also puts
 * the account on hold (no checkout, no generation) until an admin clears it.
 */
import { and, eq, isNull } from "drizzle-orm";
import type Stripe from "stripe";
import type { AppDb } from "#db/client.server";
import { users } from "#db/schema";
import { stripeIdOf } from "~/utils/stripe-ids";
import { clawback, findPurchaseByPaymentId, type Tx } from "./ledger.server";
import { ledgerKeys } from "./ledger-keys.server";
import { amountPaidFor, creditsTakenBack } from "./payment-queries.server";
import { creditsShare } from "./pricing.server";

export class PurchaseNotFoundYetError extends Error {
  constructor(paymentIntentId: string) {
    // Answering 500 makes Stripe retry: the purchase's own event may simply not have arrived yet.
    super(`No purchase recorded yet for payment ${paymentIntentId}; retry later`);
  }
}

/** The purchase a refund or dispute is about, and the money it was paid with (in cents). */
function purchaseBehind(
  db: AppDb,
  paymentIntent: string | { id: string } | null,
  fallbackAmount: number,
): { purchase: Tx; paid: number; paymentIntentId: string } | null {
  const paymentIntentId = stripeIdOf(paymentIntent);
  if (!paymentIntentId) return null;
  const purchase = findPurchaseByPaymentId(db, paymentIntentId);
  if (!purchase) throw new PurchaseNotFoundYetError(paymentIntentId);
  return { purchase, paid: amountPaidFor(purchase).amountTotal ?? fallbackAmount, paymentIntentId };
}

/**
 * A refund on Stripe takes back credits in proportion to the money refunded. The charge carries
 * the cumulative amount refunded, so the key `refund:<charge>:<cumulative amount>` is unique per
 * refund state: a replay takes nothing twice, and an older event arriving late takes nothing.
 */
export function applyChargeRefunded(db: AppDb, charge: Stripe.Charge): { clawedBack: number } {
  const found = purchaseBehind(db, charge.payment_intent, charge.amount);
  if (!found) return { clawedBack: 0 };
  const { purchase, paid, paymentIntentId } = found;
  const apply = db.sqlite.transaction(() => {
    const target = creditsShare(purchase.amount, charge.amount_refunded, paid);
    const delta = target - creditsTakenBack(db, paymentIntentId);
    if (delta <= 0) return 0;
    clawback(db, {
      userId: purchase.userId,
      amount: delta,
      key: ledgerKeys.refund(charge.id, charge.amount_refunded),
      description:
        charge.amount_refunded >= charge.amount ? "Payment refunded: credits taken back" : "Partial refund: credits taken back",
      stripePaymentId: paymentIntentId,
      meta: { chargeId: charge.id, amountRefunded: charge.amount_refunded, amount: charge.amount },
    });
    return delta;
  });
  return { clawedBack: apply.immediate() };
}

/**
 * A dispute takes back the disputed share of the purchase's credits (what refunds have not
 * already taken) and puts the account on hold until an admin clears it.
 */
export function applyDisputeCreated(db: AppDb, dispute: Stripe.Dispute): { clawedBack: number } {
  const found = purchaseBehind(db, dispute.payment_intent, dispute.amount);
  if (!found) return { clawedBack: 0 };
  const { purchase, paid, paymentIntentId } = found;
  const apply = db.sqlite.transaction(() => {
    const disputed = creditsShare(purchase.amount, dispute.amount, paid);
    const delta = Math.min(disputed, purchase.amount - creditsTakenBack(db, paymentIntentId));
    db.orm
      .update(users)
      .set({ flaggedAt: Date.now(), flaggedReason: `Payment disputed (${dispute.reason})`, updatedAt: Date.now() })
      .where(and(eq(users.id, purchase.userId), isNull(users.flaggedAt)))
      .run();
    if (delta <= 0) return 0;
    clawback(db, {
      userId: purchase.userId,
      amount: delta,
      key: ledgerKeys.dispute(dispute.id),
      description: "Payment disputed: credits taken back",
      stripePaymentId: paymentIntentId,
      meta: { disputeId: dispute.id, reason: dispute.reason, amount: dispute.amount },
    });
    return delta;
  });
  return { clawedBack: apply.immediate() };
}
