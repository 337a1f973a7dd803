/**
 * Every Checkout Session the app started and what became of it (open, processing, paid, failed,
 * expired), so a buyer sees a payment that is still processing or that failed, not silence. The
 * credits themselves are only ever the ledger's purchase row; this table says nothing about money
 * that the ledger does not.
 */
import { and, desc, eq, inArray } from "drizzle-orm";
import type { AppDb } from "#db/client.server";
import { checkoutAttempts, type CheckoutAttempt, type CheckoutStatus } from "#db/schema";

/** Where a status may go: a paid attempt stays paid; failed and expired are final, except that a
 * late success beats them (Stripe's word on payment wins). */
const NEXT: Record<CheckoutStatus, readonly CheckoutStatus[]> = {
  open: ["processing", "paid", "failed", "expired"],
  processing: ["paid", "failed", "expired"],
  failed: ["paid"],
  expired: ["paid"],
  paid: [],
};

export function recordCheckoutStarted(
  db: AppDb,
  attempt: { sessionId: string; userId: number; pack: string; credits: number; amountTotal: number | null; currency: string | null },
): void {
  db.orm.insert(checkoutAttempts).values(attempt).onConflictDoNothing().run();
}

/** Moves an attempt on, if that is a move its status allows; an unknown session is left alone. */
export function markCheckout(db: AppDb, sessionId: string, status: CheckoutStatus, now = Date.now()): void {
  const from = (Object.keys(NEXT) as CheckoutStatus[]).filter((s) => NEXT[s].includes(status));
  if (from.length === 0) return;
  db.orm
    .update(checkoutAttempts)
    .set({ status, updatedAt: now })
    .where(and(eq(checkoutAttempts.sessionId, sessionId), inArray(checkoutAttempts.status, from)))
    .run();
}

/** The buyer's recent payments that are not simply paid: processing, failed or expired. */
export function listUnsettledCheckouts(db: AppDb, userId: number, limit = 5): CheckoutAttempt[] {
  return db.orm
    .select()
    .from(checkoutAttempts)
    .where(and(eq(checkoutAttempts.userId, userId), inArray(checkoutAttempts.status, ["processing", "failed"])))
    .orderBy(desc(checkoutAttempts.createdAt))
    .limit(limit)
    .all();
}
