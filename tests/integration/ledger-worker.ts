/**
 * One OS process hammering the ledger, for ledger-multiprocess.test.ts. Started with
 * `node --import tsx tests/integration/ledger-worker.ts` (child_process.fork), it opens the SAME
 * database as its siblings (the SQLite file `dbPath`, or with `databaseUrl` a PostgreSQL database
 * through the executor, as an app instance would), waits for "go", runs `ops` random operations
 * (`lanes` of them at a time: a server's concurrent requests; one by default), and reports what it
 * did: per user, the net change of every write it performed that was not a replay. Summed over
 * all workers (plus the holds the sweepers voided, which the database records as 'expired'),
 * that must be exactly the final balance: anything else is a lost or doubled update.
 *
 * With `burst`, it runs no random operations: it places `burst.holds` holds of 1 credit on one
 * user, `lanes` at a time, and reports the ids of those that were granted.
 */
import { closeDatabase, openDatabase, type AppDb } from "../../db/client.server";
import { openPgDatabase } from "../../db/pg-client.server";
import { pgSql, type SqlDb } from "../../db/sql.server";
import { isUniqueViolation } from "../../app/services/sql-target.server";
import {
  LedgerError,
  clawback,
  grant,
  hold,
  postHold,
  sweepExpiredHolds,
  voidHold,
  type Tx,
} from "../../app/services/money/ledger.server";
import { seededRandom } from "../../scripts/seeded-random";

export type WorkerConfig = {
  /** The SQLite file, or… */
  dbPath?: string;
  /** …a PostgreSQL database (postgres://…), reached through the executor (pgSql). */
  databaseUrl?: string;
  workerId: string;
  seed: number;
  ops: number;
  userIds: number[];
  clawbackUserId: number;
  /** Operations in flight at once (default 1). */
  lanes?: number;
  burst?: { userId: number; holds: number };
};
export type WorkerReport = {
  workerId: string;
  /** userId -> net change of the writes this worker performed (replays excluded). */
  net: Record<number, number>;
  /** New rows this worker wrote (replays and refusals write none). */
  rowsWritten: number;
  /** The ids of those rows, each acknowledged to this worker: every one must be in the database. */
  acknowledged: number[];
  counts: Record<string, number>;
  /** Spending that left a balance below zero: must stay empty. */
  negativeSpends: string[];
  /** Writes that went wrong where they should have been done or refused: a CHECK violation
   * (PostgreSQL 23514, rolled back whole), a void answered without its row. Must stay empty. */
  failedWrites: string[];
  ms: number;
};

const pause = () => new Promise<void>((resolve) => setTimeout(resolve, 1));

type Opened = { db: AppDb | SqlDb; recentUsage(): Promise<Array<{ id: number }>>; close(): Promise<void> };

const RECENT_USAGE = "select id from transactions where type = 'usage' and status in ('pending', 'posted', 'voided') order by id desc limit 40";

function open(config: WorkerConfig): Opened {
  if (config.databaseUrl) {
    const sql = pgSql(openPgDatabase(config.databaseUrl, { max: (config.lanes ?? 1) + 2 }).pool);
    return { db: sql, recentUsage: () => sql.all<{ id: number }>(RECENT_USAGE), close: () => sql.close() };
  }
  if (!config.dbPath) throw new Error("the worker needs dbPath or databaseUrl");
  const db = openDatabase(config.dbPath);
  const recent = db.sqlite.prepare<[], { id: number }>(RECENT_USAGE);
  return { db, recentUsage: async () => recent.all(), close: async () => closeDatabase(db) };
}

/** Runs `run(0..count-1)`, `lanes` at a time, in order of the index. */
async function inLanes(count: number, lanes: number, run: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: lanes }, async () => {
      while (next < count) await run(next++);
    }),
  );
}

export async function runWorker(config: WorkerConfig): Promise<WorkerReport> {
  const started = performance.now();
  const opened = open(config);
  const { db } = opened;
  const random = seededRandom(config.seed);
  const int = (min: number, max: number) => min + Math.floor(random() * (max - min + 1));
  const pick = <T>(items: T[]): T => items[Math.floor(random() * items.length)];
  const net: Record<number, number> = Object.fromEntries(config.userIds.map((id) => [id, 0]));
  const counts: Record<string, number> = {};
  const count = (what: string) => (counts[what] = (counts[what] ?? 0) + 1);
  const negativeSpends: string[] = [];
  const failedWrites: string[] = [];
  let rowsWritten = 0;
  const acknowledged: number[] = [];
  const wrote = (id: number) => {
    rowsWritten++;
    acknowledged.push(id);
  };

  const spent = (what: string, balanceAfter: number) => {
    if (balanceAfter < 0) negativeSpends.push(`${what} left ${balanceAfter}`);
  };

  /** On PostgreSQL two transactions writing one new key at once: the second meets the unique
   * index inside its transaction and fails (nothing of it stays). A client retries such a request;
   * the retry is then a replay. Counted, so the report shows how often it happened. */
  const keyed = async <T>(what: string, write: () => Promise<T>): Promise<T> => {
    try {
      return await write();
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
      count(`${what}_key_race_retried`);
      return write();
    }
  };

  const burst = async (b: { userId: number; holds: number }) =>
    inLanes(b.holds, config.lanes ?? 1, async (i) => {
      const h = await hold(db, { userId: b.userId, cost: 1, key: `burst-${config.workerId}-${i}`, description: "burst hold", ttlSeconds: 3600 });
      count(h.ok ? "burst_held" : "burst_refused");
      if (!h.ok) return;
      net[b.userId] = (net[b.userId] ?? 0) - 1;
      wrote(h.transaction.id);
      spent(`burst hold ${h.transaction.id}`, h.transaction.balanceAfter);
    });

  const step = async (i: number) => {
    // A server does not write in a tight loop: it awaits between requests. Without these gaps
    // one process would keep re-taking the write lock the instant it commits and the other
    // would only sleep in SQLite's busy handler, so nothing would actually interleave.
    if (random() < 0.5) await pause();
    const r = random();
    if (r < 0.2) {
      // Keys shared by every worker: whoever comes second gets a replay.
      const n = int(0, Math.floor(config.ops / 4));
      const userId = config.userIds[n % config.userIds.length];
      const amount = 5 + (n % 40);
      const w = await keyed("grant", () => grant(db, { userId, amount, type: "topup", key: `grant-${n}`, description: "worker grant" }));
      count(w.replayed ? "grant_replayed" : "grant");
      if (!w.replayed) {
        net[userId] += amount;
        wrote(w.transaction.id);
      }
    } else if (r < 0.55) {
      // Half the holds use a shared key (the same job retried by another process).
      const shared = random() < 0.5;
      const n = int(0, Math.floor(config.ops / 3));
      const userId = shared ? config.userIds[n % config.userIds.length] : pick(config.userIds);
      const cost = shared ? 1 + (n % 30) : int(1, 30);
      const key = shared ? `hold-shared-${n}` : `hold-${config.workerId}-${i}`;
      const ttlSeconds = random() < 0.3 ? 0.02 : 60;
      const h = await keyed("hold", () => hold(db, { userId, cost, key, description: "worker hold", ttlSeconds }));
      if (!h.ok) {
        count("hold_insufficient");
        if (h.balance >= cost) negativeSpends.push(`refused a hold of ${cost} with ${h.balance} available`);
        return;
      }
      count(h.replayed ? "hold_replayed" : "hold");
      if (!h.replayed) {
        net[userId] -= cost;
        wrote(h.transaction.id);
        spent(`hold ${h.transaction.id}`, h.transaction.balanceAfter);
      }
    } else if (r < 0.85) {
      // Post or void a recent hold: often one the other worker is racing for.
      const recent = await opened.recentUsage();
      if (recent.length === 0) return;
      const holdId = pick(recent).id;
      const post = random() < 0.5;
      try {
        if (post) {
          const w = await postHold(db, holdId);
          count(w.replayed ? "post_replayed" : "post");
        } else {
          const w = await voidHold(db, holdId, "worker_void");
          // Answered without a row: the hold was settled by someone else between the ledger's
          // read of it and its guarded void (PostgreSQL, READ COMMITTED), yet the write committed.
          if (!(w.transaction as Tx | undefined)) {
            count("void_answered_no_row");
            failedWrites.push(`voidHold(${holdId}) answered no transaction: the hold was settled concurrently, and the void's give-back committed anyway`);
            return;
          }
          count(w.replayed ? "void_replayed" : "void");
          if (!w.replayed) net[w.transaction.userId] -= w.transaction.amount;
        }
      } catch (error) {
        if (!(error instanceof LedgerError)) throw error;
        count(`${post ? "post" : "void"}_refused_${error.code}`);
      }
    } else if (r < 0.95) {
      // A spend at once (hold, then post), as spendNow does, but in two visible steps: between
      // them the other worker may void this very hold (it posts or voids recent holds), and the
      // post is then rightly refused. The hold's cost counts when it was written here; the void
      // gives it back in the other worker's tally.
      const userId = pick(config.userIds);
      const cost = int(1, 20);
      const key = random() < 0.3 ? `deduct-shared-${userId}-${cost}-${int(0, 20)}` : `deduct-${config.workerId}-${i}`;
      const d = await keyed("deduct", () => hold(db, { userId, cost, key, description: "worker deduct", ttlSeconds: 3600 }));
      if (!d.ok) {
        count("deduct_insufficient");
        return;
      }
      count(d.replayed ? "deduct_replayed" : "deduct");
      if (!d.replayed) {
        net[userId] -= cost;
        wrote(d.transaction.id);
        spent(`deduct ${d.transaction.id}`, d.transaction.balanceAfter);
      }
      try {
        await postHold(db, d.transaction.id);
      } catch (error) {
        if (!(error instanceof LedgerError) || error.code !== "hold_voided") throw error;
        count("deduct_post_refused_hold_voided");
      }
    } else if (r < 0.97) {
      const amount = int(1, 15);
      const w = await clawback(db, { userId: config.clawbackUserId, amount, key: `claw-${config.workerId}-${i}`, description: "worker clawback" });
      count("clawback");
      net[config.clawbackUserId] -= amount;
      if (!w.replayed) wrote(w.transaction.id);
    } else {
      count("sweep");
      try {
        counts.swept = (counts.swept ?? 0) + await sweepExpiredHolds(db);
      } catch (error) {
        // A due hold posted by someone else while the pass ran: the whole pass fails (rolled back).
        if (!(error instanceof LedgerError)) throw error;
        count(`sweep_failed_${error.code}`);
        failedWrites.push(`sweepExpiredHolds failed: ${error.message}`);
      }
    }
  };

  try {
    if (config.burst) await burst(config.burst);
    else
      await inLanes(config.ops, config.lanes ?? 1, async (i) => {
        try {
          await step(i);
        } catch (error) {
          if ((error as { code?: unknown }).code !== "23514") throw error;
          count("failed_check_violation");
          failedWrites.push(`${(error as Error).message}\n${(error as Error).stack?.split("\n").slice(1, 6).join("\n")}`);
        }
      });
  } finally {
    await opened.close();
  }
  return { workerId: config.workerId, net, rowsWritten, acknowledged, counts, negativeSpends, failedWrites, ms: Math.round(performance.now() - started) };
}

// As a forked child: wait for the go-ahead so all workers start at once, then report.
if (process.send) {
  const config = JSON.parse(process.argv[2]) as WorkerConfig;
  process.once("message", (message) => {
    if (message !== "go") return;
    runWorker(config).then(
      (report) => process.send!({ ok: true, report }, () => process.exit(0)),
      (error: unknown) =>
        process.send!({ ok: false, error: error instanceof Error ? `${error.stack}` : String(error) }, () => process.exit(1)),
    );
  });
  process.send({ ready: true });
}
