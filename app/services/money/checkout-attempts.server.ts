/**
 * Every Checkout Session the app started and what became of it (open, processing, paid, failed,
 * expired), so a buyer sees a payment that is still processing or that failed, not silence. The
 * credits themselves are only ever the ledger's purchase row; this table says nothing about money
 * that the ledger does not. On the executor (decision 036): one SQL text for SQLite and PostgreSQL.
 */
import type { CheckoutAttempt, CheckoutStatus } from "#db/schema";
import { inWrite, readerOf, type SqlTarget } from "../sql-target.server";

/** Where a status may go: a paid attempt stays paid; failed and expired are final, except that a
 * late success beats them (Stripe's word on payment wins). */
const NEXT: Record<CheckoutStatus, readonly CheckoutStatus[]> = {
  open: ["processing", "paid", "failed", "expired"],
  processing: ["paid", "failed", "expired"],
  failed: ["paid"],
  expired: ["paid"],
  paid: [],
};

const ATTEMPT_COLUMNS = `session_id AS "sessionId", user_id AS "userId", pack, credits, status, amount_total AS "amountTotal",
  currency, created_at AS "createdAt", updated_at AS "updatedAt"`;

/** Notes a session the app just opened; a second call for the same session changes nothing. */
export async function recordCheckoutStarted(
  target: SqlTarget,
  attempt: { sessionId: string; userId: number; pack: string; credits: number; amountTotal: number | null; currency: string | null },
): Promise<void> {
  await inWrite(target, (tx) =>
    tx.run(
      `INSERT INTO checkout_attempts (session_id, user_id, pack, credits, amount_total, currency) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (session_id) DO NOTHING`,
      [attempt.sessionId, attempt.userId, attempt.pack, attempt.credits, attempt.amountTotal, attempt.currency],
    ),
  );
}

/** Moves an attempt on, if that is a move its status allows (one guarded UPDATE); an unknown
 * session is left alone. Pass a write body's `tx` to move it inside that transaction. */
export async function markCheckout(target: SqlTarget, sessionId: string, status: CheckoutStatus, now = Date.now()): Promise<void> {
  const from = (Object.keys(NEXT) as CheckoutStatus[]).filter((s) => NEXT[s].includes(status));
  if (from.length === 0) return;
  await inWrite(target, (tx) =>
    tx.run(`UPDATE checkout_attempts SET status = ?, updated_at = ? WHERE session_id = ? AND status IN (${from.map(() => "?").join(", ")})`, [
      status,
      now,
      sessionId,
      ...from,
    ]),
  );
}

/** The buyer's recent payments that are not simply paid: processing, failed or expired. */
export async function listUnsettledCheckouts(target: SqlTarget, userId: number, limit = 5): Promise<CheckoutAttempt[]> {
  return readerOf(target).all<CheckoutAttempt>(
    `SELECT ${ATTEMPT_COLUMNS} FROM checkout_attempts WHERE user_id = ? AND status IN ('processing', 'failed')
     ORDER BY created_at DESC, session_id DESC LIMIT ?`,
    [userId, Math.max(1, Math.trunc(limit) || 1)],
  );
}
