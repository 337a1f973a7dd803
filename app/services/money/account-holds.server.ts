/**
 * Account holds: an account on hold may not buy or generate. A dispute whose funds are withdrawn
 * puts the account on hold; winning every such dispute lifts it again; an admin may set or lift
 * one by hand, with a reason (admin/account-holds.server.ts audits that).
 */
import { and, eq, isNotNull, isNull, like, type SQL } from "drizzle-orm";
import type { AppDb } from "#db/client.server";
import { users } from "#db/schema";

/** Holds set by a dispute say so first, so that winning it lifts only a hold it set itself. */
const DISPUTE_HOLD_PREFIX = "Payment disputed";

export function disputeHoldReason(disputeReason: string | null | undefined): string {
  return `${DISPUTE_HOLD_PREFIX} (${disputeReason ?? "unknown reason"})`;
}

/** Puts the account on hold unless it is already; returns whether it changed. */
export function placeAccountHold(db: AppDb, userId: number, reason: string, now = Date.now()): boolean {
  return (
    db.orm
      .update(users)
      .set({ flaggedAt: now, flaggedReason: reason, updatedAt: now })
      .where(and(eq(users.id, userId), isNull(users.flaggedAt)))
      .run().changes > 0
  );
}

/** Lifts any hold; returns whether there was one. */
export function liftAccountHold(db: AppDb, userId: number, now = Date.now()): boolean {
  return clearHold(db, userId, isNotNull(users.flaggedAt), now);
}

/** Lifts the hold only if a dispute set it (a hold an admin set stays). */
export function liftDisputeHold(db: AppDb, userId: number, now = Date.now()): boolean {
  return clearHold(db, userId, like(users.flaggedReason, `${DISPUTE_HOLD_PREFIX}%`), now);
}

function clearHold(db: AppDb, userId: number, which: SQL, now: number): boolean {
  const cleared = db.orm.update(users).set({ flaggedAt: null, flaggedReason: null, updatedAt: now }).where(and(eq(users.id, userId), which)).run();
  return cleared.changes > 0;
}
