/**
 * SEAM of the port (decision 036), to delete at the merge: the executor versions of five
 * statements whose homes are being ported at the same time by their owners —
 * payment-queries.server.ts (`creditsTakenBack`, `listPurchasesWithRefunds`, `takeBackLimit`) and
 * account-holds.server.ts (`placeAccountHold`, `liftDisputeHold`). Their rules stay there (the
 * same SQL, the same cap, the same hold prefix); these are the same statements on a `SqlTarget`,
 * named as there, so that once the homes take a target the callers (disputes, clawbacks, admin
 * refunds) change their import path and nothing else.
 */
import type { SqlTarget } from "../sql-target.server";
import { inWrite, readerOf } from "../sql-target.server";
import { disputeHoldReason } from "./account-holds.server";
import { readGrantLeft, type Tx } from "./ledger.server";
import type { PurchaseWithRefunds } from "./payment-queries.server";

/** payment-queries.server.ts `creditsTakenBack`: credits taken back (refunds and disputes) for one payment. */
export async function creditsTakenBack(target: SqlTarget, paymentIntentId: string): Promise<number> {
  const row = await readerOf(target).get<{ credits: number }>(
    `SELECT coalesce(-sum(amount), 0) AS credits FROM transactions WHERE stripe_payment_id = ? AND type = 'refund'`,
    [paymentIntentId],
  );
  return row?.credits ?? 0;
}

/** payment-queries.server.ts `listPurchasesWithRefunds`: a user's latest Stripe purchases, each with what was taken back. */
export async function listPurchasesWithRefunds(target: SqlTarget, userId: number, limit: number): Promise<PurchaseWithRefunds[]> {
  return readerOf(target).all<PurchaseWithRefunds>(
    `SELECT t.id AS id, t.created_at AS "createdAt", t.amount AS amount, t.description AS description, t.meta AS meta,
       coalesce((SELECT -sum(r.amount) FROM transactions r
                 WHERE r.stripe_payment_id = t.stripe_payment_id AND r.type = 'refund'), 0) AS "takenBack"
     FROM transactions t
     WHERE t.user_id = ? AND t.type IN ('purchase', 'topup') AND t.stripe_payment_id IS NOT NULL
     ORDER BY t.id DESC LIMIT ?`,
    [userId, limit],
  );
}

/** payment-queries.server.ts `takeBackLimit`: a plan period's credits are taken only from what its own grant has left. */
export async function takeBackLimit(target: SqlTarget, purchase: Pick<Tx, "id" | "type">, wanted: number, now = Date.now()): Promise<number> {
  if (purchase.type !== "plan") return wanted;
  return Math.min(wanted, await readGrantLeft(target, purchase.id, now));
}

/** account-holds.server.ts `placeAccountHold`: on hold unless it is already; whether it changed. */
export async function placeAccountHold(target: SqlTarget, userId: number, reason: string, now = Date.now()): Promise<boolean> {
  const r = await inWrite(target, (tx) =>
    tx.run("UPDATE users SET flagged_at = ?, flagged_reason = ?, updated_at = ? WHERE id = ? AND flagged_at IS NULL", [now, reason, now, userId]),
  );
  return r.changes > 0;
}

// account-holds.server.ts keeps DISPUTE_HOLD_PREFIX to itself; disputeHoldReason(x) is `${prefix} (${x})`.
const DISPUTE_HOLD_PREFIX = disputeHoldReason("").slice(0, -" ()".length);

/** account-holds.server.ts `liftDisputeHold`: lifts the hold only if a dispute set it. */
export async function liftDisputeHold(target: SqlTarget, userId: number, now = Date.now()): Promise<boolean> {
  // substr, not LIKE: LIKE's case rules differ between the engines.
  const r = await inWrite(target, (tx) =>
    tx.run(
      `UPDATE users SET flagged_at = NULL, flagged_reason = NULL, updated_at = ? WHERE id = ? AND substr(flagged_reason, 1, ${DISPUTE_HOLD_PREFIX.length}) = ?`,
      [now, userId, DISPUTE_HOLD_PREFIX],
    ),
  );
  return r.changes > 0;
}
