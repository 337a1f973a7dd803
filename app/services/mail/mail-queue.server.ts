/**
 * The mail queue: a message is written here in the same SQLite transaction as whatever it
 * announces (a verification token, a reset link, a payment), so an SMTP outage or a crash delays
 * mail but never loses it, and no mail goes out for a change that rolled back. The background
 * sender (mail-sender.server.ts) delivers due messages with retries and backoff.
 */
import type { AppDb } from "#db/client.server";
import { mailQueue } from "#db/schema";
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

/** Queues one message. Synchronous: call it inside the transaction of what it announces. */
export function enqueueMail(db: AppDb, to: string, kind: MailKind, mail: RenderedMail, now = Date.now()): number {
  const row = db.orm
    .insert(mailQueue)
    .values({ toAddress: to, kind, subject: mail.subject, textBody: mail.text, htmlBody: mail.html, nextAttemptAt: now, createdAt: now })
    .returning({ id: mailQueue.id })
    .get();
  return row.id;
}
