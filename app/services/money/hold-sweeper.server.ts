/**
 * Voids holds nobody finished: a generation that crashed, a process killed mid-job; and closes
 * grants past their expiry (their `expire` rows; spending ignores expired grants already, so this
 * only brings the rows and users.credits up to date). Started by the
 * server entry with the other background work and stopped on SIGTERM. Runs once at start (holds
 * left by the previous process are due already), then every intervalMs on an unref'd timer so it
 * never keeps the process alive on its own.
 *
 * Each pass runs inside `db.sql.exclusive("hold-sweeper", …)` (decision 036): on PostgreSQL an
 * advisory lock, so with several instances on one database only one sweeps at a time (the others
 * skip their tick); the ledger's writes are idempotent anyway (a hold is voided by a guarded
 * UPDATE), the lock only spares the duplicate work.
 */
import type { PortableDb } from "../../../db/client.server";
import { expireDueGrants, sweepExpiredHolds, type SweepOptions } from "./ledger.server";

/** Structural, so a pino logger or the console both fit. */
export type SweeperLog = {
  info: (obj: Record<string, unknown>, msg?: string) => void;
  error: (obj: Record<string, unknown>, msg?: string) => void;
};

export type HoldSweeper = {
  stop(): void;
  sweepNow(): Promise<number>;
  /** Resolves when the timer's pass in progress (if any) has finished. */
  idle(): Promise<void>;
};

export type HoldSweeperOptions = {
  intervalMs: number;
  log?: SweeperLog;
  /** Run for each voided hold inside the void's transaction (the generation service fails the job
   * the hold paid for there; this wing does not know about jobs). */
  onVoided?: SweepOptions["onVoided"];
};

export function startHoldSweeper(db: PortableDb, options: HoldSweeperOptions): HoldSweeper {
  const { intervalMs, log, onVoided } = options;
  if (!Number.isFinite(intervalMs) || intervalMs <= 0) throw new Error(`hold sweeper: intervalMs must be > 0, got ${intervalMs}`);
  let stopped = false;

  /** One pass; 0 when stopped, or when another pass (here or, on PostgreSQL, in another
   * instance) holds the lock. */
  const sweepNow = async (): Promise<number> => {
    if (stopped) return 0;
    let voided = 0;
    await db.sql.exclusive("hold-sweeper", async () => {
      const now = Date.now();
      voided = await sweepExpiredHolds(db.sql, now, { onVoided });
      if (voided > 0) log?.info({ voided }, "hold sweeper voided expired holds");
      // After the holds: a void may give credits back to a grant that is due, which this closes.
      const expired = await expireDueGrants(db.sql, now);
      if (expired > 0) log?.info({ expired }, "hold sweeper closed expired grants");
    });
    return voided;
  };

  // On the timer a failure (say SQLITE_BUSY past busy_timeout) is logged and retried next tick.
  let pass: Promise<void> | null = null;
  const tick = () => {
    // One pass at a time: a slow pass must not overlap the next tick.
    if (pass) return;
    pass = sweepNow()
      .then(() => undefined, (error: unknown) => log?.error({ err: error }, "hold sweeper failed"))
      .finally(() => {
        pass = null;
      });
  };

  tick();
  const timer = setInterval(tick, intervalMs);
  timer.unref();

  return {
    stop() {
      stopped = true;
      clearInterval(timer);
    },
    sweepNow,
    idle: async () => {
      await pass;
    },
  };
}
