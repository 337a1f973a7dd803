/**
 * The mail queue: a message is written here in the same transaction as whatever it announces (a
 * verification token, a reset link, a payment), so an SMTP outage or a crash delays mail but
 * never loses it, and no mail goes out for a change that rolled back. The background sender
 * (mail-sender.server.ts) delivers due messages with retries and backoff.
 */
import type { AppDb } from "#db/client.server";
import type { SqlRunner } from "#db/sql.server";
import { mailQueue } from "#db/schema";
import { inWrite, type SqlTarget } from "../sql-target.server";
import type { RenderedMail } from "./mail-layout.server";

export type MailKind =
  | "verify_email"
  | "signup_attempt"
  | "reset_password"
  | "password_changed"
  | "change_email"
  | "email_changed"
  | "account_deleted"
  | "credits_expiring"
  | "balance_low"
  | "auto_recharge_succeeded"
  | "auto_recharge_failed"
  | "auto_recharge_off"
  | (string & {});

const INSERT_MAIL = `INSERT INTO mail_queue (to_address, kind, subject, text_body, html_body, status, attempts, next_attempt_at, created_at)
  VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, ?) RETURNING id`;

/**
 * Queues one message; answers its id. Pass the write body's `tx` of what the mail announces, so
 * the message commits (or rolls back) with it; given the database, it is a write of its own.
 */
export async function enqueueMail(target: SqlTarget, to: string, kind: MailKind, mail: RenderedMail, now = Date.now()): Promise<number> {
  const row = await inWrite(target, (tx) => tx.get<{ id: number }>(INSERT_MAIL, [to, kind, mail.subject, mail.text, mail.html, now, now]));
  return row!.id;
}

/** Queues one message in the transaction of `tx` (enqueueMail, or a test's own); answers its id. */
export type QueueMailIn = (tx: SqlRunner, to: string, kind: MailKind, mail: RenderedMail, now: number) => Promise<number>;

/**
 * The same, synchronous, on the SQLite connection: ONLY for the not-yet-ported services whose
 * transactions are still better-sqlite3's synchronous ones (auto-recharge, plan invoices,
 * expiry warnings, balance alerts; decision 036). Their owners move to `await enqueueMail(tx, …)`,
 * and this goes once nothing calls it.
 */
export function enqueueMailOnSqlite(db: AppDb, to: string, kind: MailKind, mail: RenderedMail, now = Date.now()): number {
  const row = db.orm
    .insert(mailQueue)
    .values({ toAddress: to, kind, subject: mail.subject, textBody: mail.text, htmlBody: mail.html, nextAttemptAt: now, createdAt: now })
    .returning({ id: mailQueue.id })
    .get();
  return row.id;
}
