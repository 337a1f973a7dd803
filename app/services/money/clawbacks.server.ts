/**
 * What a refund takes back: the same share of the purchase's credits as the share of its money
 * refunded (pricing.server.ts `creditsShare`), never more than what is left of the purchase (for a
 * plan period: of its grant, payment-queries.server.ts `readTakeBackLimit`), keyed
 * on the charge's cumulative refunded amount so that a replayed or late event takes nothing twice.
 * Disputes have their own lifecycle (disputes.server.ts).
 *
 * On the executor (decision 036): the body takes the account's row before it reads what was taken
 * back already (account-lock.server.ts), so parallel deliveries — of one refund, of two partial
 * refunds, of a refund and a dispute — count one after the other on PostgreSQL as on SQLite.
 */
import type Stripe from "stripe";
import { inWrite, type SqlTarget } from "../sql-target.server";
import { lockAccount } from "./account-lock.server";
import { clawback, type Tx } from "./ledger.server";
import { ledgerKeys } from "./ledger-keys.server";
import { amountPaidFor, readCreditsTakenBack, readTakeBackLimit } from "./payment-queries.server";
import { creditsShare } from "./pricing.server";

/**
 * Applies the refund state a charge reports to the app's purchase for its payment, inside the
 * write body `tx` (the webhook's, which records the event), or a write of its own.
 */
export async function applyChargeRefunded(target: SqlTarget, charge: Stripe.Charge, purchase: Tx, paymentIntentId: string, now = Date.now()): Promise<{ clawedBack: number }> {
  return inWrite(target, async (tx) => {
    await lockAccount(tx, purchase.userId);
    const paid = amountPaidFor(purchase).amountTotal ?? charge.amount;
    const wanted = creditsShare(purchase.amount, charge.amount_refunded, paid);
    const delta = await readTakeBackLimit(tx, purchase, wanted - (await readCreditsTakenBack(tx, paymentIntentId)), now);
    if (delta <= 0) return { clawedBack: 0 };
    await clawback(tx, {
      userId: purchase.userId,
      amount: delta,
      key: ledgerKeys.refund(charge.id, charge.amount_refunded),
      description: charge.amount_refunded >= charge.amount ? "Payment refunded: credits taken back" : "Partial refund: credits taken back",
      stripePaymentId: paymentIntentId,
      meta: { chargeId: charge.id, amountRefunded: charge.amount_refunded, amount: charge.amount },
      now,
    });
    return { clawedBack: delta };
  });
}
