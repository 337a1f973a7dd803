/**
 * What an administrator sees of mail delivery (/admin/mail): messages that failed for good, and
 * messages still pending long after they were queued (an outage, a bad SMTP_URL). A failed message
 * can be queued again by hand; that is audited in the same transaction as the change.
 */
import type { PortableDb } from "#db/client.server";
import { AUDIT_ACTIONS } from "~/utils/admin-schemas";

/** A pending message older than this (or one that failed an attempt already) counts as delayed. */
export const MAIL_DELAYED_AFTER_MS = 10 * 60 * 1000;
const LIST_LIMIT = 200;

export type MailProblem = {
  id: number;
  to: string;
  kind: string;
  subject: string;
  status: "pending" | "failed";
  attempts: number;
  lastError: string | null;
  createdAt: number;
  nextAttemptAt: number;
};

const SELECT = `SELECT id, to_address AS "to", kind, subject, status, attempts, last_error AS "lastError",
    created_at AS "createdAt", next_attempt_at AS "nextAttemptAt" FROM mail_queue`;

const MAIL_SQL = {
  failed: `${SELECT} WHERE status = 'failed' ORDER BY id DESC LIMIT @limit`,
  delayed: `${SELECT} WHERE status = 'pending' AND (created_at <= @before OR last_error IS NOT NULL) ORDER BY id DESC LIMIT @limit`,
  counts: `SELECT status, count(*) AS n FROM mail_queue GROUP BY status`,
  byId: `SELECT id, to_address AS "to", kind, status, attempts FROM mail_queue WHERE id = ?`,
  requeue: `UPDATE mail_queue SET status = 'pending', attempts = 0, next_attempt_at = @now WHERE id = @id AND status = 'failed'`,
  // Addresses are stored lower-case (the users_email_lower check): the queue's is lowered to match.
  userByEmail: `SELECT id FROM users WHERE email = ?`,
  audit: `INSERT INTO audit_log (actor_id, action, target_user_id, reason, details, created_at) VALUES (?, ?, ?, NULL, ?, ?)`,
};

export async function listMailProblems(db: PortableDb, now = Date.now()) {
  // Three reads of committed rows; the counts and the lists may differ by a message sent between them.
  const [countRows, failed, delayed] = await Promise.all([
    db.sql.all<{ status: string; n: number }>(MAIL_SQL.counts),
    db.sql.all<MailProblem>(MAIL_SQL.failed, { limit: LIST_LIMIT }),
    db.sql.all<MailProblem>(MAIL_SQL.delayed, { before: now - MAIL_DELAYED_AFTER_MS, limit: LIST_LIMIT }),
  ]);
  const counts = Object.fromEntries(countRows.map((r) => [r.status, r.n]));
  return {
    failed,
    delayed,
    counts: { pending: counts.pending ?? 0, sent: counts.sent ?? 0, failed: counts.failed ?? 0 },
  };
}

export type RetryMailResult =
  | { ok: true; id: number; to: string }
  | { ok: false; reason: "not_found" | "not_failed"; message: string };

/**
 * Puts a failed message back in the queue with a fresh set of attempts, due at once. Only failed
 * rows: a pending row may be in the middle of a send right now, and making it due again could
 * send it twice; the sender retries pending rows on its own. One write body: the guarded UPDATE
 * decides (two admins retrying at once: one requeues, the other is told it is not failed), and
 * the audit row commits with it.
 */
export function retryFailedMail(db: PortableDb, input: { adminId: number; mailId: number }, now = Date.now()): Promise<RetryMailResult> {
  return db.sql.write(async (tx): Promise<RetryMailResult> => {
    const row = await tx.get<{ id: number; to: string; kind: string; status: string; attempts: number }>(MAIL_SQL.byId, [input.mailId]);
    if (!row) return { ok: false, reason: "not_found", message: `There is no message #${input.mailId}.` };
    if ((await tx.run(MAIL_SQL.requeue, { id: row.id, now })).changes !== 1) {
      return { ok: false, reason: "not_failed", message: `Message #${row.id} is ${row.status}, not failed: nothing was changed.` };
    }
    const target = await tx.get<{ id: number }>(MAIL_SQL.userByEmail, [row.to.toLowerCase()]);
    await tx.run(MAIL_SQL.audit, [
      input.adminId,
      AUDIT_ACTIONS.mailRetry,
      target?.id ?? null,
      JSON.stringify({ mailId: row.id, kind: row.kind, to: row.to, failedAttempts: row.attempts }),
      now,
    ]);
    return { ok: true, id: row.id, to: row.to };
  });
}
