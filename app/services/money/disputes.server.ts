/**
 * The dispute lifecycle. Each dispute event is applied by reading the dispute as Stripe has it
 * now and bringing the app in line with that state, so events in any order, twice, or late, end
 * in the same place:
 * - an inquiry (`warning_*`: no funds withdrawn) takes nothing;
 * - a dispute with funds withdrawn takes back the disputed share of the purchase (what refunds
 *   have not already taken), keyed `dispute:<id>`, and puts the account on hold;
 * - won (funds reinstated) gives exactly that back, keyed `dispute-won:<id>`, and lifts the hold
 *   once no other dispute of the account still holds money back;
 * - lost keeps the credits taken and the hold (an admin lifts it after review).
 *
 * On the executor (decision 036): one write body, which takes the account's row first
 * (account-lock.server.ts), so parallel deliveries of one dispute, or of a dispute and a refund of
 * the same payment, count what was taken back one after the other, on PostgreSQL as on SQLite.
 */
import type Stripe from "stripe";
import type { SqlRunner } from "#db/sql.server";
import { inWrite, type SqlTarget } from "../sql-target.server";
import { disputeHoldReason, liftDisputeHold, placeAccountHold } from "./account-holds.server";
import { lockAccount } from "./account-lock.server";
import { clawback, readByKey, reverseClawback, type Tx } from "./ledger.server";
import { ledgerKeys } from "./ledger-keys.server";
import { amountPaidFor, readCreditsTakenBack, readTakeBackLimit } from "./payment-queries.server";
import { creditsShare } from "./pricing.server";

export type DisputeState = { fundsWithdrawn: boolean; fundsReinstated: boolean; inquiry: boolean };

/** What Stripe's dispute says about the money: an inquiry withdraws nothing; any other dispute
 * withdrew the funds when it opened; a won one had them reinstated. */
export function disputeStateOf(dispute: Pick<Stripe.Dispute, "status">): DisputeState {
  const inquiry = dispute.status.startsWith("warning_");
  return { inquiry, fundsWithdrawn: !inquiry, fundsReinstated: !inquiry && dispute.status === "won" };
}

export type DisputeOutcome = { clawedBack: number; givenBack: number; status: string };

const DISPUTE_SQL = {
  upsert: `INSERT INTO disputes (id, user_id, payment_intent_id, status, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)
   ON CONFLICT (id) DO UPDATE SET status = excluded.status, updated_at = excluded.updated_at`,
  // Disputes of the account other than this one that still hold money back.
  otherOpen: `SELECT count(*) AS n FROM disputes WHERE user_id = ? AND id <> ? AND funds_withdrawn = 1 AND status <> 'won'`,
  outcome: `UPDATE disputes SET funds_withdrawn = ?, credits_taken = ?, credits_returned = ?, updated_at = ? WHERE id = ?`,
} as const;

/** Takes back the disputed share once; an earlier take (this dispute's key) is a replay. */
async function takeDisputed(tx: SqlRunner, dispute: Stripe.Dispute, purchase: Tx, paymentIntentId: string, now: number): Promise<number> {
  const key = ledgerKeys.dispute(dispute.id);
  const earlier = await readByKey(tx, key);
  if (earlier) return -earlier.amount;
  const paid = amountPaidFor(purchase).amountTotal ?? dispute.amount;
  const disputed = creditsShare(purchase.amount, dispute.amount, paid);
  const left = purchase.amount - (await readCreditsTakenBack(tx, paymentIntentId));
  const delta = await readTakeBackLimit(tx, purchase, Math.min(disputed, left), now);
  if (delta <= 0) return 0;
  await clawback(tx, {
    userId: purchase.userId,
    amount: delta,
    key,
    description: "Payment disputed: credits taken back",
    stripePaymentId: paymentIntentId,
    meta: { disputeId: dispute.id, reason: dispute.reason, amount: dispute.amount },
    now,
  });
  return delta;
}

/** Gives back what this dispute took, once. */
async function giveBackDisputed(tx: SqlRunner, dispute: Stripe.Dispute, now: number): Promise<number> {
  if (!(await readByKey(tx, ledgerKeys.dispute(dispute.id)))) return 0;
  const written = await reverseClawback(tx, {
    reversesKey: ledgerKeys.dispute(dispute.id),
    key: ledgerKeys.disputeWon(dispute.id),
    description: "Dispute won: credits given back",
    meta: { disputeId: dispute.id, status: dispute.status },
    now,
  });
  return written.transaction.amount;
}

/**
 * Brings the app in line with the dispute as Stripe has it now, inside the write body `tx` (the
 * webhook's, which records the event), or a write of its own. `purchase` is the app's purchase
 * for the payment.
 */
export async function applyDispute(target: SqlTarget, dispute: Stripe.Dispute, purchase: Tx, paymentIntentId: string, now = Date.now()): Promise<DisputeOutcome> {
  return inWrite(target, async (tx) => {
    await lockAccount(tx, purchase.userId);
    const state = disputeStateOf(dispute);
    await tx.run(DISPUTE_SQL.upsert, [dispute.id, purchase.userId, paymentIntentId, dispute.status, now, now]);
    let clawedBack = 0;
    let givenBack = 0;
    if (state.fundsWithdrawn) {
      clawedBack = await takeDisputed(tx, dispute, purchase, paymentIntentId, now);
      if (!state.fundsReinstated) await placeAccountHold(tx, purchase.userId, disputeHoldReason(dispute.reason), now);
    }
    if (state.fundsReinstated) {
      givenBack = await giveBackDisputed(tx, dispute, now);
      const others = await tx.get<{ n: number }>(DISPUTE_SQL.otherOpen, [purchase.userId, dispute.id]);
      if (others!.n === 0) await liftDisputeHold(tx, purchase.userId, now);
    }
    await tx.run(DISPUTE_SQL.outcome, [state.fundsWithdrawn ? 1 : 0, clawedBack, givenBack, now, dispute.id]);
    return { clawedBack, givenBack, status: dispute.status };
  });
}
