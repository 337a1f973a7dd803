/**
 * The expiry warning job: mails each owner of sizeable credits that expire soon, once per grant.
 * Every run (`warnOfExpiringCredits`, given its `now`) finds grants unclosed, expiring within
 * EXPIRY_WARNING_BEFORE, still holding at least EXPIRY_WARNING_MIN_CREDITS and never warned about,
 * of verified, undeleted accounts; then, per user, ONE write body on the executor (decision 036)
 * claims them (sets `expiry_warned_at`, a guarded UPDATE) and queues one mail summarising them.
 * Claim and mail commit together: a restart, a second tick, a second process on the same file or a
 * second instance on PostgreSQL finds nothing left to claim, and a rollback leaves the grants to
 * be warned about next run. Started by background.server.ts; each tick runs under
 * `exclusive("expiry-warnings")`, so instances take turns rather than racing.
 * Why: docs/decisions/025-video-price-promotions-expiry-warning.md.
 */
import type { PortableDb } from "#db/client.server";
import { expiryWarningMail } from "./expiry-warning-mail.server";
import { enqueueMail, type QueueMailIn } from "./mail/mail-queue.server";
import { claimExpiryWarnings, usersDueExpiryWarning, type WarningWindow } from "./money/grant-warnings.server";
import { findUserById } from "./users.server";

export type ExpiryWarningOptions = {
  appUrl: string;
  /** EXPIRY_WARNING_MIN_CREDITS; 0 turns the warnings off. */
  minCredits: number;
  /** EXPIRY_WARNING_BEFORE: how long before the expiry the warning goes out. */
  beforeMs: number;
  /** Most owners mailed per run; the next run carries on. */
  usersPerRun?: number;
  /** Where the mail is queued, in the body that claims (default: the app's mail queue). */
  queueMail?: QueueMailIn;
};

export type ExpiryWarningRun = { mailed: number; grants: number };

const USERS_PER_RUN = 500;

/** One run at `now`: a write body per owner, one after another. */
export async function warnOfExpiringCredits(db: PortableDb, options: ExpiryWarningOptions, now: number): Promise<ExpiryWarningRun> {
  const run: ExpiryWarningRun = { mailed: 0, grants: 0 };
  if (options.minCredits <= 0) return run;
  const window: WarningWindow = { now, until: now + options.beforeMs, minCredits: options.minCredits };
  const queueMail = options.queueMail ?? enqueueMail;
  for (const userId of await usersDueExpiryWarning(db, window, Math.max(1, Math.trunc(options.usersPerRun ?? USERS_PER_RUN) || 1))) {
    const warned = await db.sql.write(async (tx) => {
      const grants = await claimExpiryWarnings(tx, userId, window);
      if (grants.length === 0) return 0; // another run claimed them first
      const user = await findUserById(tx, userId);
      if (!user) throw new Error(`grant owner ${userId} has no users row`);
      await queueMail(tx, user.email, "credits_expiring", expiryWarningMail(options.appUrl, grants), now);
      return grants.length;
    });
    if (warned > 0) {
      run.mailed += 1;
      run.grants += warned;
    }
  }
  return run;
}

/** Structural, so a pino logger or the console both fit. */
export type ExpiryWarningLog = {
  info: (obj: Record<string, unknown>, msg?: string) => void;
  error: (obj: Record<string, unknown>, msg?: string) => void;
};

/** Runs at start and every `intervalMs` on an unref'd timer; a failed run (a busy database, say)
 * is logged and the next one picks up what it left. `stop()` resolves once a pass in progress has
 * ended, so the database can close after it. */
export function startExpiryWarnings(
  db: PortableDb,
  options: ExpiryWarningOptions & { intervalMs: number; log?: ExpiryWarningLog; now?: () => number },
): { stop(): Promise<void> } {
  const { intervalMs, log } = options;
  if (!Number.isFinite(intervalMs) || intervalMs <= 0) throw new Error(`expiry warnings: intervalMs must be > 0, got ${intervalMs}`);
  const clock = options.now ?? Date.now;
  let stopped = false;
  let running: Promise<void> = Promise.resolve();
  // One pass at a time across instances (an advisory lock on PostgreSQL); a tick that finds a
  // pass running (here or elsewhere) skips: the next one carries on.
  const tick = async () => {
    if (stopped) return;
    try {
      await db.sql.exclusive("expiry-warnings", async () => {
        const run = await warnOfExpiringCredits(db, options, clock());
        if (run.mailed > 0) log?.info({ ...run }, "queued credit expiry warnings");
      });
    } catch (error) {
      log?.error({ err: error }, "credit expiry warnings failed");
    }
  };
  const start = () => {
    // tick() never rejects; a tick that skipped (a pass still running) keeps waiting for that pass.
    running = Promise.all([running, tick()]).then(() => undefined);
  };
  start();
  const timer = setInterval(start, intervalMs);
  timer.unref();
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
