/**
 * The background sender: delivers due rows of mail_queue (status pending, next_attempt_at <= now)
 * one at a time. Each row is CLAIMED in a write body of its own before it is sent: attempts goes
 * up and next_attempt_at moves past the longest an SMTP exchange may take (the lease). So a second
 * sender (another tick, another process or instance) cannot pick the same row while it is being
 * sent, and after a crash mid-send the row comes due again by itself once the lease runs out. The
 * send itself happens outside any write body (a transaction never waits on SMTP). Outcomes are
 * written only if the row is still the one this loop claimed (same attempts): a late answer never
 * overwrites a newer attempt. Each pass runs inside `db.sql.exclusive("mail-sender", …)` (on
 * PostgreSQL an advisory lock: one instance's sender at a time); the lease still decides alone
 * should two passes ever meet (decision 036).
 */
import type { PortableDb } from "#db/client.server";
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

const NEXT_DUE = `SELECT id FROM mail_queue WHERE status = 'pending' AND next_attempt_at <= @now ORDER BY next_attempt_at, id LIMIT 1`;

const SENDER_SQL = {
  nextDue: NEXT_DUE,
  // PostgreSQL: a row another claimer holds locked is skipped, not waited for (it would then fail
  // the guard below and end the pass early). SQLite's writes are serial: no clause needed.
  nextDueForClaim: { sqlite: NEXT_DUE, postgres: `${NEXT_DUE} FOR UPDATE SKIP LOCKED` },
  claim: `UPDATE mail_queue SET attempts = attempts + 1, next_attempt_at = @until
      WHERE id = @id AND status = 'pending' AND next_attempt_at <= @now
      RETURNING id, to_address AS "toAddress", subject, text_body AS "textBody", html_body AS "htmlBody", kind, attempts, created_at AS "createdAt"`,
  sent: `UPDATE mail_queue SET status = 'sent', message_id = @messageId, sent_at = @now, last_error = NULL
      WHERE id = @id AND attempts = @attempts AND status = 'pending'`,
  retry: `UPDATE mail_queue SET last_error = @error, next_attempt_at = @at WHERE id = @id AND attempts = @attempts AND status = 'pending'`,
  failed: `UPDATE mail_queue SET status = 'failed', last_error = @error WHERE id = @id AND attempts = @attempts AND status = 'pending'`,
};

/** Whether a message is due by `dueBy` (a peek: claiming is claimNextMail's). */
export async function hasDueMail(db: PortableDb, dueBy: number): Promise<boolean> {
  return (await db.sql.get<{ id: number }>(SENDER_SQL.nextDue, { now: dueBy })) !== undefined;
}

/**
 * Claims the oldest row due by `dueBy` for `leaseMs` from `now`, or null when nothing is due. A
 * tick passes its start as `dueBy`, so a row that failed during the tick waits for the next one.
 */
export function claimNextMail(db: PortableDb, now: number, leaseMs: number, dueBy = now): Promise<Row | null> {
  const pick = SENDER_SQL.nextDueForClaim[db.sql.dialect];
  return db.sql.write(async (tx) => {
    const due = await tx.get<{ id: number }>(pick, { now: dueBy });
    return due ? ((await tx.get<Row>(SENDER_SQL.claim, { id: due.id, now: dueBy, until: now + leaseMs })) ?? null) : null;
  });
}

/** After attempt `attempts` failed: the delay before the next one, or null when it was the last. */
export function retryDelayAfter(retrySchedule: readonly number[], attempts: number): number | null {
  return attempts >= 1 && attempts <= retrySchedule.length ? retrySchedule[attempts - 1]! : null;
}

export async function recordSent(db: PortableDb, row: Pick<Row, "id" | "attempts">, messageId: string, now: number): Promise<boolean> {
  return (await db.sql.run(SENDER_SQL.sent, { id: row.id, attempts: row.attempts, messageId, now })).changes === 1;
}

/** Records a failed attempt: back to pending after its delay, or failed after the last one. */
export async function recordFailure(
  db: PortableDb,
  row: Pick<Row, "id" | "attempts">,
  error: string,
  now: number,
  retrySchedule: readonly number[],
): Promise<"retrying" | "failed" | "superseded"> {
  const delay = retryDelayAfter(retrySchedule, row.attempts);
  const text = error.slice(0, 1000);
  const { changes } =
    delay === null
      ? await db.sql.run(SENDER_SQL.failed, { id: row.id, attempts: row.attempts, error: text })
      : await db.sql.run(SENDER_SQL.retry, { id: row.id, attempts: row.attempts, error: text, at: now + delay });
  if (changes !== 1) return "superseded";
  return delay === null ? "failed" : "retrying";
}

function errorText(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { responseCode?: number; code?: string }).responseCode ?? (error as { code?: string }).code;
    return code ? `${code}: ${error.message}` : error.message;
  }
  return String(error);
}

export function startMailSender(db: PortableDb, options: MailSenderOptions): MailSender {
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
    // Outside any write body: the claim has committed, the outcome is a guarded write of its own.
    let outcome: { ok: true; messageId: string } | { ok: false; text: string };
    try {
      const { messageId } = await transport.send({
        id: row.id,
        createdAt: row.createdAt,
        to: row.toAddress,
        subject: row.subject,
        text: row.textBody,
        html: row.htmlBody,
      });
      outcome = { ok: true, messageId };
    } catch (error) {
      outcome = { ok: false, text: redact(errorText(error)) };
    }
    if (outcome.ok) {
      await recordSent(db, row, outcome.messageId, now());
      report.sent++;
      log?.info({ mailId: row.id, kind: row.kind, attempt: row.attempts, messageId: outcome.messageId }, "mail sent");
    } else {
      const recorded = await recordFailure(db, row, outcome.text, now(), retrySchedule);
      if (recorded === "failed") report.failed++;
      else report.retrying++;
      const level = recorded === "failed" ? "error" : "warn";
      log?.[level]({ mailId: row.id, kind: row.kind, attempt: row.attempts, error: outcome.text, outcome: recorded }, "mail delivery failed");
    }
  };

  let transportReady = !transport.ready;
  const run = async (): Promise<SendReport> => {
    const report: SendReport = { sent: 0, retrying: 0, failed: 0 };
    const startedAt = now();
    // One pass at a time (on PostgreSQL, across instances); a pass that finds the lock taken
    // sends nothing and reports zeros: the pass holding it is delivering.
    await db.sql.exclusive("mail-sender", async () => {
      for (let i = 0; i < batch && !stopped; i++) {
        if (!transportReady) {
          // Loaded before the first claim, once there is something to send: a lease starts at its
          // claim and must cover the sending only, not a slow first load of nodemailer.
          if (!(await hasDueMail(db, startedAt))) break;
          await transport.ready!();
          transportReady = true;
          if (stopped) break;
        }
        const row = await claimNextMail(db, now(), leaseMs, startedAt);
        if (!row) break;
        await sendOne(row, report);
      }
    });
    return report;
  };

  // This sender's passes run one after another (a sendNow during the start-up tick waits for it,
  // then finds what is due): the exclusive lock is only ever contended by another sender.
  const sendNow = (): Promise<SendReport> => {
    const p: Promise<SendReport> = Promise.allSettled([...running])
      .then(run)
      .finally(() => running.delete(p));
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
