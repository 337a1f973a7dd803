/**
 * One OS process hammering the ledger, for ledger-multiprocess.test.ts. Started with
 * `node --import tsx tests/integration/ledger-worker.ts` (child_process.fork), it opens the SAME
 * SQLite file as its siblings, waits for "go", runs `ops` random operations, and reports what it
 * did: per user, the net change of every write it performed that was not a replay. Summed over
 * all workers (plus the holds the sweepers voided, which the database records as 'expired'),
 * that must be exactly the final balance: anything else is a lost or doubled update.
 */
import { closeDatabase, openDatabase } from "../../db/client.server";
import {
  LedgerError,
  clawback,
  grant,
  hold,
  postHold,
  sweepExpiredHolds,
  voidHold,
} from "../../app/services/money/ledger.server";

export type WorkerConfig = { dbPath: string; workerId: string; seed: number; ops: number; userIds: number[]; clawbackUserId: number };
export type WorkerReport = {
  workerId: string;
  /** userId -> net change of the writes this worker performed (replays excluded). */
  net: Record<number, number>;
  /** New rows this worker wrote (replays and refusals write none). */
  rowsWritten: number;
  counts: Record<string, number>;
  /** Spending that left a balance below zero: must stay empty. */
  negativeSpends: string[];
  ms: number;
};

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const pause = () => new Promise<void>((resolve) => setTimeout(resolve, 1));

export async function runWorker(config: WorkerConfig): Promise<WorkerReport> {
  const started = performance.now();
  const db = openDatabase(config.dbPath);
  const random = mulberry32(config.seed);
  const int = (min: number, max: number) => min + Math.floor(random() * (max - min + 1));
  const pick = <T>(items: T[]): T => items[Math.floor(random() * items.length)];
  const net: Record<number, number> = Object.fromEntries(config.userIds.map((id) => [id, 0]));
  const counts: Record<string, number> = {};
  const count = (what: string) => (counts[what] = (counts[what] ?? 0) + 1);
  const negativeSpends: string[] = [];
  let rowsWritten = 0;
  const recentUsage = db.sqlite.prepare<[], { id: number }>(
    "select id from transactions where type = 'usage' and status in ('pending', 'posted', 'voided') order by id desc limit 40",
  );

  const spent = (what: string, balanceAfter: number) => {
    if (balanceAfter < 0) negativeSpends.push(`${what} left ${balanceAfter}`);
  };

  try {
    for (let i = 0; i < config.ops; i++) {
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
        const w = await grant(db, { userId, amount, type: "topup", key: `grant-${n}`, description: "worker grant" });
        count(w.replayed ? "grant_replayed" : "grant");
        if (!w.replayed) {
          net[userId] += amount;
          rowsWritten++;
        }
      } else if (r < 0.55) {
        // Half the holds use a shared key (the same job retried by another process).
        const shared = random() < 0.5;
        const n = int(0, Math.floor(config.ops / 3));
        const userId = shared ? config.userIds[n % config.userIds.length] : pick(config.userIds);
        const cost = shared ? 1 + (n % 30) : int(1, 30);
        const key = shared ? `hold-shared-${n}` : `hold-${config.workerId}-${i}`;
        const ttlSeconds = random() < 0.3 ? 0.02 : 60;
        const h = await hold(db, { userId, cost, key, description: "worker hold", ttlSeconds });
        if (!h.ok) {
          count("hold_insufficient");
          if (h.balance >= cost) negativeSpends.push(`refused a hold of ${cost} with ${h.balance} available`);
          continue;
        }
        count(h.replayed ? "hold_replayed" : "hold");
        if (!h.replayed) {
          net[userId] -= cost;
          rowsWritten++;
          spent(`hold ${h.transaction.id}`, h.transaction.balanceAfter);
        }
      } else if (r < 0.85) {
        // Post or void a recent hold: often one the other worker is racing for.
        const recent = recentUsage.all();
        if (recent.length === 0) continue;
        const holdId = pick(recent).id;
        const post = random() < 0.5;
        try {
          if (post) {
            const w = await postHold(db, holdId);
            count(w.replayed ? "post_replayed" : "post");
          } else {
            const w = await voidHold(db, holdId, "worker_void");
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
        const d = await hold(db, { userId, cost, key, description: "worker deduct", ttlSeconds: 3600 });
        if (!d.ok) {
          count("deduct_insufficient");
          continue;
        }
        count(d.replayed ? "deduct_replayed" : "deduct");
        if (!d.replayed) {
          net[userId] -= cost;
          rowsWritten++;
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
        rowsWritten += w.replayed ? 0 : 1;
      } else {
        count("sweep");
        counts.swept = (counts.swept ?? 0) + await sweepExpiredHolds(db);
      }
    }
  } finally {
    closeDatabase(db);
  }
  return { workerId: config.workerId, net, rowsWritten, counts, negativeSpends, ms: Math.round(performance.now() - started) };
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
