/**
 * Which grants are due an expiry warning, and marking them warned (`credit_grants.expiry_warned_at`).
 * This is grant state but not money: nothing here touches `remaining`, balances or ledger rows.
 * A grant is due when it is unclosed, expires after `now` and no later than `until`, still holds
 * at least `minCredits` (a grant its owner already spent is not worth a mail), has not been warned
 * about, and its owner is a verified, undeleted account. The mail itself is the caller's
 * (app/services/expiry-warnings.server.ts). Why: docs/decisions/025-video-price-promotions-expiry-warning.md.
 * One SQL text for SQLite and PostgreSQL (decision 036).
 */
import type { SqlRunner } from "../../../db/sql.server";
import { readerOf, type SqlTarget } from "../sql-target.server";

export type WarningWindow = { now: number; until: number; minCredits: number };
export type WarnedGrant = { id: number; remaining: number; expiresAt: number };

// Served by the partial index credit_grants_due_idx (unclosed grants by expires_at).
const DUE = `g.closed_at IS NULL AND g.expires_at IS NOT NULL AND g.expires_at > @now AND g.expires_at <= @until
  AND g.expiry_warned_at IS NULL AND g.remaining >= @minCredits`;
const REACHABLE = `u.deleted_at IS NULL AND u.email_verified_at IS NOT NULL`;

function checkWindow(w: WarningWindow): void {
  if (!Number.isSafeInteger(w.now) || !Number.isSafeInteger(w.until) || w.until <= w.now) throw new Error(`bad warning window ${JSON.stringify(w)}`);
  // 0 would warn about every grant, spent or not: "off" is the caller's decision, not a window.
  if (!Number.isSafeInteger(w.minCredits) || w.minCredits < 1) throw new Error(`minCredits must be a whole number >= 1, got ${w.minCredits}`);
}

/** Owners with at least one grant due a warning (candidates only: claimExpiryWarnings decides). */
export async function usersDueExpiryWarning(db: SqlTarget, w: WarningWindow, limit: number): Promise<number[]> {
  checkWindow(w);
  if (!Number.isSafeInteger(limit) || limit < 1) throw new Error(`limit must be a whole number >= 1, got ${limit}`);
  const rows = await readerOf(db).all<{ userId: number }>(
    `SELECT DISTINCT g.user_id AS "userId" FROM credit_grants g JOIN users u ON u.id = g.user_id
     WHERE ${DUE} AND ${REACHABLE} ORDER BY g.user_id LIMIT @limit`,
    { ...w, limit },
  );
  return rows.map((r) => r.userId);
}

/**
 * Marks the user's grants due a warning as warned at `now` and returns them (soonest first).
 * Call it with the `tx` of the write body that queues the mail: one guarded statement claims, so a
 * second run (another tick, another process, another instance: on PostgreSQL the row locks make it
 * re-read `expiry_warned_at`) finds nothing left to claim, and a rollback of the mail un-marks them.
 */
export async function claimExpiryWarnings(tx: SqlRunner, userId: number, w: WarningWindow): Promise<WarnedGrant[]> {
  checkWindow(w);
  // The database itself (an AppDb, an executor) would claim in a transaction of its own, apart from the mail.
  if ("sql" in tx || "write" in tx) throw new Error("claimExpiryWarnings must run inside the transaction that queues the mail (pass the body's tx)");
  const rows = await tx.all<WarnedGrant>(
    `UPDATE credit_grants AS g SET expiry_warned_at = @now
     WHERE g.user_id = @userId AND ${DUE}
       AND EXISTS (SELECT 1 FROM users u WHERE u.id = @userId AND ${REACHABLE})
     RETURNING id, remaining, expires_at AS "expiresAt"`,
    { ...w, userId },
  );
  return rows.sort((a, b) => a.expiresAt - b.expiresAt || a.id - b.id);
}
