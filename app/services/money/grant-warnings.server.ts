/**
 * Which grants are due an expiry warning, and marking them warned (`credit_grants.expiry_warned_at`).
 * This is grant state but not money: nothing here touches `remaining`, balances or ledger rows.
 * A grant is due when it is unclosed, expires after `now` and no later than `until`, still holds
 * at least `minCredits` (a grant its owner already spent is not worth a mail), has not been warned
 * about, and its owner is a verified, undeleted account. The mail itself is the caller's
 * (app/services/expiry-warnings.server.ts). Why: docs/decisions/025-video-price-promotions-expiry-warning.md.
 */
import type { AppDb } from "../../../db/client.server";

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
export function usersDueExpiryWarning(db: AppDb, w: WarningWindow, limit: number): number[] {
  checkWindow(w);
  const rows = db.sqlite
    .prepare<WarningWindow & { limit: number }, { userId: number }>(
      `SELECT DISTINCT g.user_id AS userId FROM credit_grants g JOIN users u ON u.id = g.user_id
       WHERE ${DUE} AND ${REACHABLE} ORDER BY g.user_id LIMIT @limit`,
    )
    .all({ ...w, limit });
  return rows.map((r) => r.userId);
}

/**
 * Marks the user's grants due a warning as warned at `now` and returns them (soonest first).
 * Call it inside the BEGIN IMMEDIATE transaction that queues the mail: one statement claims, so a
 * second run (another tick, another process) finds nothing left to claim, and a rollback of the
 * mail un-marks them.
 */
export function claimExpiryWarnings(db: AppDb, userId: number, w: WarningWindow): WarnedGrant[] {
  checkWindow(w);
  if (!db.sqlite.inTransaction) throw new Error("claimExpiryWarnings must run inside the transaction that queues the mail");
  const rows = db.sqlite
    .prepare<WarningWindow & { userId: number }, WarnedGrant>(
      `UPDATE credit_grants AS g SET expiry_warned_at = @now
       WHERE g.user_id = @userId AND ${DUE}
         AND EXISTS (SELECT 1 FROM users u WHERE u.id = @userId AND ${REACHABLE})
       RETURNING id, remaining, expires_at AS expiresAt`,
    )
    .all({ ...w, userId });
  return rows.sort((a, b) => a.expiresAt - b.expiresAt || a.id - b.id);
}
