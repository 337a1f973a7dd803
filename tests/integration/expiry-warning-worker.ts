/**
 * One OS process running the expiry warning job, for expiry-warnings-multiprocess.test.ts. Forked
 * with `node --import tsx`, it opens the SAME SQLite file as its sibling, waits for "go", runs the
 * job once at the given clock and reports what it queued and when it ran.
 */
import { closeDatabase, openDatabase } from "../../db/client.server";
import { warnOfExpiringCredits, type ExpiryWarningOptions } from "../../app/services/expiry-warnings.server";

export type WarningWorkerConfig = { dbPath: string; now: number; options: ExpiryWarningOptions };
export type WarningWorkerReport = { mailed: number; grants: number; startedAt: number; endedAt: number };

if (process.send) {
  const config = JSON.parse(process.argv[2]) as WarningWorkerConfig;
  // A generous lock wait: the sibling holds the write lock for most of its run.
  const db = openDatabase(config.dbPath, { busyTimeoutMs: 30_000 });
  const go = async () => {
    try {
      const startedAt = Date.now();
      const run = await warnOfExpiringCredits(db, config.options, config.now);
      const report: WarningWorkerReport = { ...run, startedAt, endedAt: Date.now() };
      await db.sql.close();
      closeDatabase(db);
      process.send!({ ok: true, report }, () => process.exit(0));
    } catch (error) {
      process.send!({ ok: false, error: error instanceof Error ? `${error.stack}` : String(error) }, () => process.exit(1));
    }
  };
  process.once("message", (message) => {
    if (message === "go") void go();
  });
  process.send({ ready: true });
}
