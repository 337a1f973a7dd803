/**
 * What a refund takes back: the same share of the purchase's credits as the share of its money
 * refunded (pricing.server.ts `creditsShare`), never more than what is left of the purchase (for a
 * plan period: of its grant, payment-queries.server.ts `takeBackLimit`), keyed
 * on the charge's cumulative refunded amount so that a replayed or late event takes nothing twice.
 * Disputes have their own lifecycle (disputes.server.ts).
 */
import type Stripe from "stripe";
import type { AppDb } from "#db/client.server";
import type { SqlRunner } from "#db/sql.server";
import { clawback, type Tx } from "./ledger.server";
import { ledgerKeys } from "./ledger-keys.server";
import { amountPaidFor, creditsTakenBack, takeBackLimit } from "./payment-queries.server";
import { creditsShare } from "./pricing.server";

/**
 * Applies the refund state a charge reports to the app's purchase for its payment, inside the
 * write body `tx` (the webhook's, which records the event).
 */
export async function applyChargeRefunded(db: AppDb, charge: Stripe.Charge, purchase: Tx, paymentIntentId: string, tx: SqlRunner): Promise<{ clawedBack: number }> {
  const paid = amountPaidFor(purchase).amountTotal ?? charge.amount;
  const target = creditsShare(purchase.amount, charge.amount_refunded, paid);
  const delta = takeBackLimit(db, purchase, target - creditsTakenBack(db, paymentIntentId));
  if (delta <= 0) return { clawedBack: 0 };
  await clawback(tx, {
    userId: purchase.userId,
    amount: delta,
    key: ledgerKeys.refund(charge.id, charge.amount_refunded),
    description: charge.amount_refunded >= charge.amount ? "Payment refunded: credits taken back" : "Partial refund: credits taken back",
    stripePaymentId: paymentIntentId,
    meta: { chargeId: charge.id, amountRefunded: charge.amount_refunded, amount: charge.amount },
  });
  return { clawedBack: delta };
}
