/**
 * The expiry warning job: mails each owner of sizeable credits that expire soon, once per grant.
 * Every run (`warnOfExpiringCredits`, given its `now`) finds grants unclosed, expiring within
 * EXPIRY_WARNING_BEFORE, still holding at least EXPIRY_WARNING_MIN_CREDITS and never warned about,
 * of verified, undeleted accounts; then, per user, ONE `BEGIN IMMEDIATE` transaction claims them
 * (sets `expiry_warned_at`) and queues one mail summarising them. Claim and mail commit together:
 * a restart, a second tick or a second process on the same file finds nothing left to claim, and
 * a rollback leaves the grants to be warned about next run. Started by background.server.ts.
 * Why: docs/decisions/025-video-price-promotions-expiry-warning.md.
 */
import type { AppDb } from "#db/client.server";
import { expiryWarningMail } from "./expiry-warning-mail.server";
import { enqueueMail } from "./mail/mail-queue.server";
import { claimExpiryWarnings, usersDueExpiryWarning, type WarningWindow } from "./money/grant-warnings.server";
import { findUserByIdOnSqlite } from "./users.server";

export type ExpiryWarningOptions = {
  appUrl: string;
  /** EXPIRY_WARNING_MIN_CREDITS; 0 turns the warnings off. */
  minCredits: number;
  /** EXPIRY_WARNING_BEFORE: how long before the expiry the warning goes out. */
  beforeMs: number;
  /** Most owners mailed per run; the next run carries on. */
  usersPerRun?: number;
};

export type ExpiryWarningRun = { mailed: number; grants: number };

const USERS_PER_RUN = 500;

/** One run at `now`. Synchronous, like every write of the app (better-sqlite3). */
export function warnOfExpiringCredits(db: AppDb, options: ExpiryWarningOptions, now: number): ExpiryWarningRun {
  const run: ExpiryWarningRun = { mailed: 0, grants: 0 };
  if (options.minCredits <= 0) return run;
  const window: WarningWindow = { now, until: now + options.beforeMs, minCredits: options.minCredits };
  const warnOne = db.sqlite.transaction((userId: number) => {
    const grants = claimExpiryWarnings(db, userId, window);
    if (grants.length === 0) return 0; // another run claimed them first
    const user = findUserByIdOnSqlite(db, userId);
    if (!user) throw new Error(`grant owner ${userId} has no users row`);
    enqueueMail(db, user.email, "credits_expiring", expiryWarningMail(options.appUrl, grants), now);
    return grants.length;
  });
  for (const userId of usersDueExpiryWarning(db, window, options.usersPerRun ?? USERS_PER_RUN)) {
    const warned = warnOne.immediate(userId);
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
 * is logged and the next one picks up what it left. */
export function startExpiryWarnings(
  db: AppDb,
  options: ExpiryWarningOptions & { intervalMs: number; log?: ExpiryWarningLog; now?: () => number },
): { stop(): void } {
  const { intervalMs, log } = options;
  if (!Number.isFinite(intervalMs) || intervalMs <= 0) throw new Error(`expiry warnings: intervalMs must be > 0, got ${intervalMs}`);
  const clock = options.now ?? Date.now;
  let stopped = false;
  const tick = () => {
    if (stopped || !db.sqlite.open) return;
    try {
      const run = warnOfExpiringCredits(db, options, clock());
      if (run.mailed > 0) log?.info({ ...run }, "queued credit expiry warnings");
    } catch (error) {
      log?.error({ err: error }, "credit expiry warnings failed");
    }
  };
  tick();
  const timer = setInterval(tick, intervalMs);
  timer.unref();
  return {
    stop() {
      stopped = true;
      clearInterval(timer);
    },
  };
}
