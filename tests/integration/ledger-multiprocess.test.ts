/**
 * Two OS processes hammer the SAME SQLite file with holds, posts, voids, grants, deductions,
 * clawbacks and sweeps, racing for the same users, the same holds and the same idempotency keys,
 * while this process keeps verifying the live database. The ledger must come out exact:
 * no spending below zero, no lost or doubled update, no violation.
 */
import { fork, spawnSync, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { closeDatabase, openMigratedDatabase, type AppDb } from "../../db/client.server";
import { getBalance, grant, sweepExpiredHolds } from "../../app/services/money/ledger.server";
import { verifyLedger, type Violation } from "../../app/services/money/ledger-verify.server";
import type { WorkerConfig, WorkerReport } from "./ledger-worker";

const ROOT = path.resolve(__dirname, "../..");
const WORKER = path.join(__dirname, "ledger-worker.ts");
const OPS_PER_WORKER = Number(process.env.LEDGER_MP_OPS ?? 1500);

let dir: string;
let db: AppDb;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "ledger-mp-"));
  db = openMigratedDatabase(path.join(dir, "app.sqlite"));
});

afterAll(async () => {
  closeDatabase(db);
  fs.rmSync(dir, { recursive: true, force: true });
});

type Message = { ready: true } | { ok: true; report: WorkerReport } | { ok: false; error: string };

function startWorker(config: WorkerConfig): { child: ChildProcess; ready: Promise<void>; done: Promise<WorkerReport> } {
  const child = fork(WORKER, [JSON.stringify(config)], {
    cwd: ROOT,
    execArgv: ["--import", "tsx"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  let onReady!: () => void;
  const ready = new Promise<void>((resolve) => (onReady = resolve));
  const done = new Promise<WorkerReport>((resolve, reject) => {
    child.on("message", (message: Message) => {
      if ("ready" in message) onReady();
      else if (message.ok) resolve(message.report);
      else reject(new Error(`worker ${config.workerId} failed:\n${message.error}`));
    });
    child.on("error", reject);
    child.on("exit", (code) => reject(new Error(`worker ${config.workerId} exited with ${code} before reporting`)));
  });
  return { child, ready, done };
}

it(
  "two processes writing the same file at once lose nothing, double nothing, overspend nothing",
  async () => {
    const insertUser = db.sqlite.prepare("insert into users(email, password_hash) values (?, 'x')");
    const userIds = [1, 2, 3].map((i) => Number(insertUser.run(`mp${i}@example.com`).lastInsertRowid));
    const clawbackUserId = userIds[0];
    const initial = 100;
    for (const userId of userIds) await grant(db, { userId, amount: initial, type: "purchase", key: `seed-${userId}`, description: "seed" });
    const seedRows = userIds.length;

    const workers = ["a", "b"].map((workerId, i) =>
      startWorker({ dbPath: db.path, workerId, seed: 1000 + i, ops: OPS_PER_WORKER, userIds, clawbackUserId }),
    );
    try {
      await Promise.all(workers.map((w) => w.ready));
      for (const w of workers) w.child.send("go");

      // While they write, read the live file: every snapshot must already be consistent.
      const liveViolations: Violation[] = [];
      let liveChecks = 0;
      const poll = setInterval(() => {
        const report = verifyLedger(db, { sweepGraceMs: Number.MAX_SAFE_INTEGER });
        liveChecks++;
        liveViolations.push(...report.violations);
      }, 25);
      let reports: WorkerReport[];
      try {
        reports = await Promise.all(workers.map((w) => w.done));
      } finally {
        clearInterval(poll);
      }
      expect(liveViolations).toEqual([]);
      expect(liveChecks).toBeGreaterThan(0);

      // Holds nobody finished: the final sweep voids them all (reason 'expired').
      await sweepExpiredHolds(db, Date.now() + 3_600_000);

      for (const r of reports) expect(r.negativeSpends, `worker ${r.workerId}`).toEqual([]);
      const counts: Record<string, number> = {};
      for (const r of reports) for (const [k, n] of Object.entries(r.counts)) counts[k] = (counts[k] ?? 0) + n;
      // The races really happened: replays across processes, refused posts/voids, sweeps.
      expect(counts.grant_replayed ?? 0).toBeGreaterThan(0);
      expect(counts.hold_replayed ?? 0).toBeGreaterThan(0);
      expect((counts.post_refused_hold_voided ?? 0) + (counts.void_refused_hold_posted ?? 0)).toBeGreaterThan(0);
      expect(counts.hold ?? 0).toBeGreaterThan(100);

      // The two processes really interleaved their writes (not one after the other).
      const order = (
        db.sqlite.prepare("select idempotency_key as key from transactions where idempotency_key like 'hold-_-%' order by id").all() as Array<{
          key: string;
        }>
      ).map((r) => r.key[5]);
      const switches = order.filter((w, i) => i > 0 && w !== order[i - 1]).length;
      expect(switches).toBeGreaterThan(20);

      // No lost update: each balance is the seed, plus what the workers say they did, plus what the
      // sweeps gave back (the database's voided 'expired' holds).
      const expiredBack = new Map(
        (
          db.sqlite
            .prepare(
              `select user_id as userId, sum(-amount) as back from transactions
               where status = 'voided' and json_extract(meta, '$.voidReason') = 'expired' group by user_id`,
            )
            .all() as Array<{ userId: number; back: number }>
        ).map((r) => [r.userId, r.back]),
      );
      for (const userId of userIds) {
        const done = reports.reduce((sum, r) => sum + r.net[userId], 0);
        const expected = initial + done + (expiredBack.get(userId) ?? 0);
        expect(getBalance(db, userId), `user ${userId}`).toEqual({ balance: expected, onHold: 0, nextExpiry: null });
        if (userId !== clawbackUserId) expect(expected).toBeGreaterThanOrEqual(0);
      }
      // No doubled write: one row per write the workers made, no more.
      const rows = (db.sqlite.prepare("select count(*) as n from transactions").get() as { n: number }).n;
      expect(rows).toBe(seedRows + reports.reduce((sum, r) => sum + r.rowsWritten, 0));

      const final = verifyLedger(db, { sweepGraceMs: 0, integrity: true });
      expect(final.violations).toEqual([]);
      expect(final.pendingHolds).toBe(0);
      const spendingBelowZero = db.sqlite
        .prepare("select count(*) as n from transactions where type = 'usage' and balance_after < 0")
        .get() as { n: number };
      expect(spendingBelowZero.n).toBe(0);

      // And the shipped script agrees (run as `npm run ledger:verify` would).
      const script = spawnSync(process.execPath, ["--import", "tsx", "scripts/ledger-verify.ts"], {
        cwd: ROOT,
        env: { ...process.env, DATABASE_PATH: db.path },
        encoding: "utf8",
      });
      expect(script.stdout).toContain("OK: no violation");
      expect(script.status).toBe(0);
      console.log(
        `ledger multiprocess: ${reports.map((r) => `worker ${r.workerId} ${OPS_PER_WORKER} ops in ${r.ms} ms`).join(", ")}; ` +
          `${rows} rows, ${switches} switches between writers, ${liveChecks} live verifications; ${JSON.stringify(counts)}`,
      );
    } finally {
      for (const w of workers) if (w.child.exitCode === null) w.child.kill();
    }
  },
  60_000,
);

it("ledger:verify exits 1 on a violation and names it", async () => {
  const file = path.join(dir, "broken.sqlite");
  const broken = openMigratedDatabase(file);
  const userId = Number(broken.sqlite.prepare("insert into users(email, password_hash) values ('b@x.io', 'x')").run().lastInsertRowid);
  await grant(broken, { userId, amount: 10, type: "bonus", key: "b1", description: "x" });
  broken.sqlite.prepare("update users set credits = 1000 where id = ?").run(userId);
  closeDatabase(broken);
  const script = spawnSync(process.execPath, ["--import", "tsx", "scripts/ledger-verify.ts"], {
    cwd: ROOT,
    env: { ...process.env, DATABASE_PATH: file },
    encoding: "utf8",
  });
  expect(script.status).toBe(1);
  expect(script.stdout).toContain("balance_mismatch");
});
