/**
 * What an administrator sees of mail delivery (/admin/mail): messages that failed for good, and
 * messages still pending long after they were queued (an outage, a bad SMTP_URL). A failed message
 * can be queued again by hand; that is audited in the same transaction as the change.
 */
import type { AppDb } from "#db/client.server";
import { perConnection } from "#db/prepared.server";
import { auditLog } from "#db/schema";
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

const SELECT = `SELECT id, to_address AS "to", kind, subject, status, attempts, last_error AS lastError,
    created_at AS createdAt, next_attempt_at AS nextAttemptAt FROM mail_queue`;

const stmts = perConnection((sqlite) => ({
  failed: sqlite.prepare<{ limit: number }, MailProblem>(`${SELECT} WHERE status = 'failed' ORDER BY id DESC LIMIT @limit`),
  delayed: sqlite.prepare<{ before: number; limit: number }, MailProblem>(
    `${SELECT} WHERE status = 'pending' AND (created_at <= @before OR last_error IS NOT NULL) ORDER BY id DESC LIMIT @limit`,
  ),
  counts: sqlite.prepare<[], { status: string; n: number }>(`SELECT status, count(*) AS n FROM mail_queue GROUP BY status`),
  byId: sqlite.prepare<[number], { id: number; to: string; kind: string; status: string; attempts: number }>(
    `SELECT id, to_address AS "to", kind, status, attempts FROM mail_queue WHERE id = ?`,
  ),
  requeue: sqlite.prepare<{ id: number; now: number }>(
    `UPDATE mail_queue SET status = 'pending', attempts = 0, next_attempt_at = @now WHERE id = @id AND status = 'failed'`,
  ),
  userByEmail: sqlite.prepare<[string], { id: number }>(`SELECT id FROM users WHERE email = ? COLLATE NOCASE`),
}));

export function listMailProblems(db: AppDb, now = Date.now()) {
  const counts = Object.fromEntries(stmts(db).counts.all().map((r) => [r.status, r.n]));
  return {
    failed: stmts(db).failed.all({ limit: LIST_LIMIT }),
    delayed: stmts(db).delayed.all({ before: now - MAIL_DELAYED_AFTER_MS, limit: LIST_LIMIT }),
    counts: { pending: counts.pending ?? 0, sent: counts.sent ?? 0, failed: counts.failed ?? 0 },
  };
}

export type RetryMailResult =
  | { ok: true; id: number; to: string }
  | { ok: false; reason: "not_found" | "not_failed"; message: string };

/**
 * Puts a failed message back in the queue with a fresh set of attempts, due at once. Only failed
 * rows: a pending row may be in the middle of a send right now, and making it due again could
 * send it twice; the sender retries pending rows on its own.
 */
export function retryFailedMail(db: AppDb, input: { adminId: number; mailId: number }, now = Date.now()): RetryMailResult {
  const run = db.sqlite.transaction((): RetryMailResult => {
    const row = stmts(db).byId.get(input.mailId);
    if (!row) return { ok: false, reason: "not_found", message: `There is no message #${input.mailId}.` };
    if (stmts(db).requeue.run({ id: row.id, now }).changes !== 1) {
      return { ok: false, reason: "not_failed", message: `Message #${row.id} is ${row.status}, not failed: nothing was changed.` };
    }
    db.orm
      .insert(auditLog)
      .values({
        actorId: input.adminId,
        action: AUDIT_ACTIONS.mailRetry,
        targetUserId: stmts(db).userByEmail.get(row.to)?.id ?? null,
        reason: null,
        details: JSON.stringify({ mailId: row.id, kind: row.kind, to: row.to, failedAttempts: row.attempts }),
        createdAt: now,
      })
      .run();
    return { ok: true, id: row.id, to: row.to };
  });
  return run.immediate();
}
