import { isDatabaseBusy } from "#db/client.server";
import type { GenerationContext } from "./generation-context.server";
import { listJobsWithSettledHolds } from "./generation-job-reads.server";
import { failGeneration } from "./generation-job-writes.server";

// The backstop for a job and its hold that disagree. Every transition writes both in one
// transaction, so this finds only what something outside those paths left: a hold voided by a
// sweep without the generation hook (a script, an older version), a failure that could not be
// written while another process held the lock (UnsettledJobs), or a bug. Runs on an unref'd timer
// started with the other background work and stopped on SIGTERM.

export type ReconcileReport = { retried: number; failed: number; postedUnfinished: number };

type ReconcileDeps = Pick<GenerationContext, "db" | "settler" | "log" | "now">;

/** One pass: writes remembered failures, fails jobs whose hold was voided, reports posted ones. */
export async function reconcileJobs(ctx: ReconcileDeps): Promise<ReconcileReport> {
  const { db, settler, log, now } = ctx;
  const report: ReconcileReport = { retried: await settler.unsettled.retry(db, now(), log), failed: 0, postedUnfinished: 0 };
  for (const pair of await listJobsWithSettledHolds(db)) {
    if (pair.hold === "voided") {
      const message = pair.voidReason === "expired" ? "The credit hold expired before the job finished." : "The credit hold was released before the job finished.";
      await failGeneration(db, pair.id, message, "reconciled", now());
      report.failed++;
    } else {
      // Charged, yet never finished: no code path does this, so a person must look.
      report.postedUnfinished++;
      log.error(
        { generationId: pair.id, holdId: pair.holdId, kind: pair.kind, status: pair.status },
        "LEDGER MISMATCH: a generation's hold is POSTED but the job is unfinished; check it by hand (npm run ledger:verify)",
      );
    }
  }
  if (report.retried || report.failed) log.warn({ ...report }, "generation reconciler settled jobs whose hold had ended");
  return report;
}

export type Reconciler = { stop(): void; reconcileNow(): Promise<ReconcileReport> };

export function startGenerationReconciler(ctx: ReconcileDeps, options: { intervalMs: number }): Reconciler {
  const { intervalMs } = options;
  if (!Number.isFinite(intervalMs) || intervalMs <= 0) throw new Error(`reconciler: intervalMs must be > 0, got ${intervalMs}`);
  let stopped = false;
  const reconcileNow = async (): Promise<ReconcileReport> => {
    if (stopped) return { retried: 0, failed: 0, postedUnfinished: 0 };
    return reconcileJobs(ctx);
  };
  // A busy database is the usual reason this has work: the next tick tries again. One pass at a time.
  let passing = false;
  const tick = () => {
    if (passing) return;
    passing = true;
    reconcileNow()
      .catch((error: unknown) => ctx.log[isDatabaseBusy(error) ? "warn" : "error"]({ err: error }, "generation reconciler failed; retrying next tick"))
      .finally(() => {
        passing = false;
      });
  };
  const timer = setInterval(tick, intervalMs);
  timer.unref();
  return {
    stop() {
      stopped = true;
      clearInterval(timer);
    },
    reconcileNow,
  };
}
