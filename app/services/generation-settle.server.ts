import { isDatabaseBusy, type PortableDb } from "#db/client.server";
import { completeGeneration, failGeneration, type Completion } from "./generation-job-writes.server";

// Ending a job when another process (a script, a backup, a second app) holds SQLite's write lock.
// A busy database is a pause, not a verdict: completion and failure are retried with backoff a
// bounded number of times. A failure that still cannot be written is remembered, and the
// reconciler (generation-reconciler.server.ts) writes it once the lock frees, so no job stays
// `running` with a `pending` hold because a write once met a lock.

export type BusyRetryPolicy = {
  /** Tries in all (the first included); each blocks up to the connection's busy_timeout. */
  attempts: number;
  /** The pause before try n + 1 (n from 1), while the event loop serves other requests. */
  delayMs: (attempt: number) => number;
};

/** 4 tries, 50/100/200 ms apart (±25 %, so two processes do not retry in step). */
export const DEFAULT_BUSY_RETRY: BusyRetryPolicy = {
  attempts: 4,
  delayMs: (attempt) => Math.round(50 * 2 ** (attempt - 1) * (0.75 + Math.random() * 0.5)),
};

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

/** Runs a write; while SQLite answers SQLITE_BUSY, waits and tries again. Other errors, and the
 * last busy one, are thrown. */
export async function retryWhenBusy<T>(write: () => T | Promise<T>, policy: BusyRetryPolicy = DEFAULT_BUSY_RETRY): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      // Awaited here, so a busy write that answers asynchronously is retried too.
      return await write();
    } catch (error) {
      if (!isDatabaseBusy(error) || attempt >= policy.attempts) throw error;
      await sleep(policy.delayMs(attempt));
    }
  }
}

type Pending = { message: string; voidReason: string };

/** Failures that could not be written yet (the lock was held through every retry). */
export class UnsettledJobs {
  private readonly pending = new Map<string, Pending>();

  remember(id: string, message: string, voidReason: string): void {
    if (!this.pending.has(id)) this.pending.set(id, { message, voidReason });
  }

  /** One try each: the reconciler's timer is the backoff. Returns how many were written. */
  async retry(db: PortableDb, now: number, log?: SettleLog): Promise<number> {
    let written = 0;
    for (const [id, { message, voidReason }] of this.pending) {
      try {
        await failGeneration(db, id, message, voidReason, now);
        this.pending.delete(id);
        written++;
      } catch (error) {
        if (isDatabaseBusy(error)) return written; // still locked: the next tick
        this.pending.delete(id);
        log?.error({ err: error, generationId: id }, "a remembered job failure could not be written");
      }
    }
    return written;
  }
}

export type SettleLog = { warn: (obj: Record<string, unknown>, msg?: string) => void; error: (obj: Record<string, unknown>, msg?: string) => void };

export type Settler = { db: PortableDb; busyRetry: BusyRetryPolicy; unsettled: UnsettledJobs; log?: SettleLog; now: () => number };

/**
 * Voids the hold and fails the job, retrying while busy. If the lock outlasts the retries the
 * failure is remembered for the reconciler. Never throws: it is what callers do when all else failed.
 */
export async function failJob(s: Settler, id: string, message: string, voidReason: string): Promise<void> {
  try {
    await retryWhenBusy(() => failGeneration(s.db, id, message, voidReason, s.now()), s.busyRetry);
  } catch (error) {
    s.unsettled.remember(id, message, voidReason);
    const busy = isDatabaseBusy(error);
    s.log?.[busy ? "warn" : "error"]({ err: error, generationId: id }, "could not fail a job now; the reconciler will");
  }
}

/** Posts the hold and marks the job succeeded, retrying while busy; the last busy error is thrown. */
export function completeJob(s: Settler, id: string, result: { resultPath: string; mimeType: string }): Promise<Completion> {
  return retryWhenBusy(() => completeGeneration(s.db, id, result, s.now()), s.busyRetry);
}
