/**
 * The background sender: delivers due rows of mail_queue (status pending, next_attempt_at <= now)
 * one at a time. Each row is CLAIMED in its own IMMEDIATE transaction before it is sent: attempts
 * goes up and next_attempt_at moves past the longest an SMTP exchange may take (the lease). So a
 * second sender loop (another tick, another process) cannot pick the same row while it is being
 * sent, and after a crash mid-send the row comes due again by itself once the lease runs out.
 * Outcomes are written only if the row is still the one this loop claimed (same attempts): a late
 * answer never overwrites a newer attempt.
 */
import type { AppDb } from "#db/client.server";
import { perConnection } from "#db/prepared.server";
import type { QueuedMail } from "#db/schema";
import type { MailTransport } from "./mail-transport.server";

type Log = {
  info: (obj: Record<string, unknown>, msg?: string) => void;
  warn: (obj: Record<string, unknown>, msg?: string) => void;
  error: (obj: Record<string, unknown>, msg?: string) => void;
};

export type MailSenderOptions = {
  transport: MailTransport;
  /** Delays after each failed attempt; one more failure than there are delays marks the row failed. */
  retrySchedule: readonly number[];
  intervalMs: number;
  /** The most one send may take: a claimed row is not handed to another loop before twice this. */
  sendTimeoutMs: number;
  /** Most rows one tick sends, so one tick never runs unbounded. */
  batch?: number;
  log?: Log;
  /** Cleans an error text before it is stored (the SMTP password must never reach the table). */
  redact?: (text: string) => string;
  now?: () => number;
};

export type SendReport = { sent: number; retrying: number; failed: number };
export type MailSender = { stop(): Promise<void>; sendNow(): Promise<SendReport> };

type Row = Pick<QueuedMail, "id" | "toAddress" | "subject" | "textBody" | "htmlBody" | "kind" | "attempts" | "createdAt">;

const stmts = perConnection((sqlite) => ({
  nextDue: sqlite.prepare<{ now: number }, { id: number }>(
    `SELECT id FROM mail_queue WHERE status = 'pending' AND next_attempt_at <= @now ORDER BY next_attempt_at, id LIMIT 1`,
  ),
  claim: sqlite.prepare<{ id: number; now: number; until: number }, Row>(
    `UPDATE mail_queue SET attempts = attempts + 1, next_attempt_at = @until
      WHERE id = @id AND status = 'pending' AND next_attempt_at <= @now
      RETURNING id, to_address AS toAddress, subject, text_body AS textBody, html_body AS htmlBody, kind, attempts, created_at AS createdAt`,
  ),
  sent: sqlite.prepare<{ id: number; attempts: number; messageId: string; now: number }>(
    `UPDATE mail_queue SET status = 'sent', message_id = @messageId, sent_at = @now, last_error = NULL
      WHERE id = @id AND attempts = @attempts AND status = 'pending'`,
  ),
  retry: sqlite.prepare<{ id: number; attempts: number; error: string; at: number }>(
    `UPDATE mail_queue SET last_error = @error, next_attempt_at = @at WHERE id = @id AND attempts = @attempts AND status = 'pending'`,
  ),
  failed: sqlite.prepare<{ id: number; attempts: number; error: string }>(
    `UPDATE mail_queue SET status = 'failed', last_error = @error WHERE id = @id AND attempts = @attempts AND status = 'pending'`,
  ),
}));

/**
 * Claims the oldest row due by `dueBy` for `leaseMs` from `now`, or null when nothing is due. A
 * tick passes its start as `dueBy`, so a row that failed during the tick waits for the next one.
 */
/** Whether a message is due by `dueBy` (a peek: claiming is claimNextMail's). */
export function hasDueMail(db: AppDb, dueBy: number): boolean {
  return stmts(db).nextDue.get({ now: dueBy }) !== undefined;
}

export function claimNextMail(db: AppDb, now: number, leaseMs: number, dueBy = now): Row | null {
  const run = db.sqlite.transaction((): Row | null => {
    const due = stmts(db).nextDue.get({ now: dueBy });
    return due ? (stmts(db).claim.get({ id: due.id, now: dueBy, until: now + leaseMs }) ?? null) : null;
  });
  return run.immediate();
}

/** After attempt `attempts` failed: the delay before the next one, or null when it was the last. */
export function retryDelayAfter(retrySchedule: readonly number[], attempts: number): number | null {
  return attempts >= 1 && attempts <= retrySchedule.length ? retrySchedule[attempts - 1]! : null;
}

export function recordSent(db: AppDb, row: Pick<Row, "id" | "attempts">, messageId: string, now: number): boolean {
  return stmts(db).sent.run({ id: row.id, attempts: row.attempts, messageId, now }).changes === 1;
}

/** Records a failed attempt: back to pending after its delay, or failed after the last one. */
export function recordFailure(
  db: AppDb,
  row: Pick<Row, "id" | "attempts">,
  error: string,
  now: number,
  retrySchedule: readonly number[],
): "retrying" | "failed" | "superseded" {
  const delay = retryDelayAfter(retrySchedule, row.attempts);
  const text = error.slice(0, 1000);
  const changed =
    delay === null
      ? stmts(db).failed.run({ id: row.id, attempts: row.attempts, error: text }).changes
      : stmts(db).retry.run({ id: row.id, attempts: row.attempts, error: text, at: now + delay }).changes;
  if (changed !== 1) return "superseded";
  return delay === null ? "failed" : "retrying";
}

function errorText(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { responseCode?: number; code?: string }).responseCode ?? (error as { code?: string }).code;
    return code ? `${code}: ${error.message}` : error.message;
  }
  return String(error);
}

export function startMailSender(db: AppDb, options: MailSenderOptions): MailSender {
  const { transport, retrySchedule, intervalMs, sendTimeoutMs, log } = options;
  if (!Number.isFinite(intervalMs) || intervalMs <= 0) throw new Error(`mail sender: intervalMs must be > 0, got ${intervalMs}`);
  const now = options.now ?? Date.now;
  const redact = options.redact ?? ((t: string) => t);
  const batch = options.batch ?? 100;
  const leaseMs = sendTimeoutMs * 2;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const running = new Set<Promise<SendReport>>();

  const sendOne = async (row: Row, report: SendReport) => {
    try {
      const { messageId } = await transport.send({
        id: row.id,
        createdAt: row.createdAt,
        to: row.toAddress,
        subject: row.subject,
        text: row.textBody,
        html: row.htmlBody,
      });
      if (db.sqlite.open) recordSent(db, row, messageId, now());
      report.sent++;
      log?.info({ mailId: row.id, kind: row.kind, attempt: row.attempts, messageId }, "mail sent");
    } catch (error) {
      const text = redact(errorText(error));
      if (!db.sqlite.open) return;
      const outcome = recordFailure(db, row, text, now(), retrySchedule);
      if (outcome === "failed") report.failed++;
      else report.retrying++;
      const level = outcome === "failed" ? "error" : "warn";
      log?.[level]({ mailId: row.id, kind: row.kind, attempt: row.attempts, error: text, outcome }, "mail delivery failed");
    }
  };

  let transportReady = !transport.ready;
  const run = async (): Promise<SendReport> => {
    const report: SendReport = { sent: 0, retrying: 0, failed: 0 };
    const startedAt = now();
    for (let i = 0; i < batch && !stopped && db.sqlite.open; i++) {
      if (!transportReady) {
        // Loaded before the first claim, once there is something to send: a lease starts at its
        // claim and must cover the sending only, not a slow first load of nodemailer.
        if (!hasDueMail(db, startedAt)) break;
        await transport.ready!();
        transportReady = true;
        if (stopped || !db.sqlite.open) break;
      }
      const row = claimNextMail(db, now(), leaseMs, startedAt);
      if (!row) break;
      await sendOne(row, report);
    }
    return report;
  };

  const sendNow = (): Promise<SendReport> => {
    const p = run().finally(() => running.delete(p));
    running.add(p);
    return p;
  };

  // A chain of timeouts, not an interval: a slow tick is never overlapped by the next one.
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(async () => {
      try {
        if (running.size === 0) await sendNow();
      } catch (error) {
        log?.error({ err: error }, "mail sender tick failed");
      }
      schedule();
    }, intervalMs);
    timer.unref();
  };

  void sendNow().catch((error) => log?.error({ err: error }, "mail sender tick failed"));
  schedule();

  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      // The message being sent finishes (or times out) before the database closes.
      await Promise.allSettled([...running]);
      transport.close();
    },
    sendNow,
  };
}
