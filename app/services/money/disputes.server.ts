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
 */
import { and, eq, ne } from "drizzle-orm";
import type Stripe from "stripe";
import type { AppDb } from "#db/client.server";
import type { SqlRunner } from "#db/sql.server";
import { disputes, type DisputeRow } from "#db/schema";
import { disputeHoldReason, liftDisputeHold, placeAccountHold } from "./account-holds.server";
import { clawback, findByKey, reverseClawback, type Tx } from "./ledger.server";
import { ledgerKeys } from "./ledger-keys.server";
import { amountPaidFor, creditsTakenBack, takeBackLimit } from "./payment-queries.server";
import { creditsShare } from "./pricing.server";

export type DisputeState = { fundsWithdrawn: boolean; fundsReinstated: boolean; inquiry: boolean };

/** What Stripe's dispute says about the money: an inquiry withdraws nothing; any other dispute
 * withdrew the funds when it opened; a won one had them reinstated. */
export function disputeStateOf(dispute: Pick<Stripe.Dispute, "status">): DisputeState {
  const inquiry = dispute.status.startsWith("warning_");
  return { inquiry, fundsWithdrawn: !inquiry, fundsReinstated: !inquiry && dispute.status === "won" };
}

export type DisputeOutcome = { clawedBack: number; givenBack: number; status: string };

function upsertDispute(db: AppDb, dispute: Stripe.Dispute, purchase: Tx, paymentIntentId: string, now: number): DisputeRow {
  return db.orm
    .insert(disputes)
    .values({ id: dispute.id, userId: purchase.userId, paymentIntentId, status: dispute.status, createdAt: now, updatedAt: now })
    .onConflictDoUpdate({ target: disputes.id, set: { status: dispute.status, updatedAt: now } })
    .returning()
    .get();
}

/** Takes back the disputed share once; an earlier take (this dispute's key) is a replay. */
async function takeDisputed(db: AppDb, dispute: Stripe.Dispute, purchase: Tx, paymentIntentId: string, tx: SqlRunner): Promise<number> {
  const key = ledgerKeys.dispute(dispute.id);
  const earlier = findByKey(db, key);
  if (earlier) return -earlier.amount;
  const paid = amountPaidFor(purchase).amountTotal ?? dispute.amount;
  const disputed = creditsShare(purchase.amount, dispute.amount, paid);
  const delta = takeBackLimit(db, purchase, Math.min(disputed, purchase.amount - creditsTakenBack(db, paymentIntentId)));
  if (delta <= 0) return 0;
  await clawback(tx, {
    userId: purchase.userId,
    amount: delta,
    key,
    description: "Payment disputed: credits taken back",
    stripePaymentId: paymentIntentId,
    meta: { disputeId: dispute.id, reason: dispute.reason, amount: dispute.amount },
  });
  return delta;
}

/** Gives back what this dispute took, once. */
async function giveBackDisputed(db: AppDb, dispute: Stripe.Dispute, tx: SqlRunner): Promise<number> {
  if (!findByKey(db, ledgerKeys.dispute(dispute.id))) return 0;
  const written = await reverseClawback(tx, {
    reversesKey: ledgerKeys.dispute(dispute.id),
    key: ledgerKeys.disputeWon(dispute.id),
    description: "Dispute won: credits given back",
    meta: { disputeId: dispute.id, status: dispute.status },
  });
  return written.transaction.amount;
}

/** Disputes of the account other than this one that still hold money back. */
function otherOpenDisputes(db: AppDb, userId: number, disputeId: string): number {
  return db.orm
    .select({ id: disputes.id })
    .from(disputes)
    .where(and(eq(disputes.userId, userId), ne(disputes.id, disputeId), eq(disputes.fundsWithdrawn, true), ne(disputes.status, "won")))
    .all().length;
}

/**
 * Brings the app in line with the dispute as Stripe has it now, inside the write body `tx` (the
 * webhook's, which records the event). `purchase` is the app's purchase for the payment.
 */
export async function applyDispute(db: AppDb, dispute: Stripe.Dispute, purchase: Tx, paymentIntentId: string, tx: SqlRunner, now = Date.now()): Promise<DisputeOutcome> {
  const state = disputeStateOf(dispute);
  upsertDispute(db, dispute, purchase, paymentIntentId, now);
  let clawedBack = 0;
  let givenBack = 0;
  if (state.fundsWithdrawn) {
    clawedBack = await takeDisputed(db, dispute, purchase, paymentIntentId, tx);
    if (!state.fundsReinstated) placeAccountHold(db, purchase.userId, disputeHoldReason(dispute.reason), now);
  }
  if (state.fundsReinstated) {
    givenBack = await giveBackDisputed(db, dispute, tx);
    if (otherOpenDisputes(db, purchase.userId, dispute.id) === 0) liftDisputeHold(db, purchase.userId, now);
  }
  db.orm
    .update(disputes)
    .set({ fundsWithdrawn: state.fundsWithdrawn, creditsTaken: clawedBack, creditsReturned: givenBack, updatedAt: now })
    .where(eq(disputes.id, dispute.id))
    .run();
  return { clawedBack, givenBack, status: dispute.status };
}
