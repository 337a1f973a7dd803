/**
 * Account holds: an account on hold may not buy or generate. A dispute whose funds are withdrawn
 * puts the account on hold; winning every such dispute lifts it again; an admin may set or lift
 * one by hand, with a reason (admin/account-holds.server.ts audits that).
 *
 * On the executor (decision 036): each change is one guarded UPDATE, run on the caller's write
 * body `tx` (the dispute's webhook, the admin's audit) or as a write of its own.
 */
import { inWrite, type SqlTarget } from "../sql-target.server";

/** Holds set by a dispute say so first, so that winning it lifts only a hold it set itself. */
const DISPUTE_HOLD_PREFIX = "Payment disputed";

export function disputeHoldReason(disputeReason: string | null | undefined): string {
  return `${DISPUTE_HOLD_PREFIX} (${disputeReason ?? "unknown reason"})`;
}

/** Puts the account on hold unless it is already; returns whether it changed. */
export async function placeAccountHold(target: SqlTarget, userId: number, reason: string, now = Date.now()): Promise<boolean> {
  const { changes } = await inWrite(target, (tx) =>
    tx.run("UPDATE users SET flagged_at = ?, flagged_reason = ?, updated_at = ? WHERE id = ? AND flagged_at IS NULL", [now, reason, now, userId]),
  );
  return changes > 0;
}

/** Lifts any hold; returns whether there was one. */
export async function liftAccountHold(target: SqlTarget, userId: number, now = Date.now()): Promise<boolean> {
  const { changes } = await inWrite(target, (tx) =>
    tx.run("UPDATE users SET flagged_at = NULL, flagged_reason = NULL, updated_at = ? WHERE id = ? AND flagged_at IS NOT NULL", [now, userId]),
  );
  return changes > 0;
}

/** Lifts the hold only if a dispute set it (a hold an admin set stays). The prefix is a constant
 * without LIKE wildcards; compared with substr, not LIKE (which is case-insensitive on SQLite
 * only), so both engines read it the same. */
export async function liftDisputeHold(target: SqlTarget, userId: number, now = Date.now()): Promise<boolean> {
  const { changes } = await inWrite(target, (tx) =>
    tx.run(`UPDATE users SET flagged_at = NULL, flagged_reason = NULL, updated_at = ? WHERE id = ? AND substr(flagged_reason, 1, ${DISPUTE_HOLD_PREFIX.length}) = ?`, [now, userId, DISPUTE_HOLD_PREFIX]),
  );
  return changes > 0;
}
