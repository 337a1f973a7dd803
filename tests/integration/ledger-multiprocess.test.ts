/**
 * Two OS processes hammer the SAME SQLite file with holds, posts, voids, grants, deductions,
 * clawbacks and sweeps, racing for the same users, the same holds and the same idempotency keys,
 * while this process keeps verifying the live database. The ledger must come out exact:
 * no spending below zero, no lost or doubled update, no violation. The same on one PostgreSQL
 * database (below): three processes through the executor, several writes in flight each.
 */
import { fork, spawnSync, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeDatabase, openMigratedDatabase, type AppDb } from "../../db/client.server";
import { migratePgDatabase, openPgDatabase } from "../../db/pg-client.server";
import { pgSql, type SqlDb } from "../../db/sql.server";
import { getBalance, grant, readBalance, sweepExpiredHolds, voidRecordOf } from "../../app/services/money/ledger.server";
import { verifyLedger, type Violation } from "../../app/services/money/ledger-verify.server";
import { ledgerViolationsOn } from "../support/ledger";
import { startPostgres, type PgServer } from "../support/postgres";
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

// ---------------------------------------------------------------------------------------------
// PostgreSQL (decision 036): three processes, each with four operations in flight, on one
// database through the executor, as app instances would be. The same tally as above (no lost or
// doubled update, nothing overspent), every acknowledged row present, and, while they write, the
// invariants hold in every snapshot (one REPEATABLE READ transaction per check).

const PG_WORKERS = ["a", "b", "c"];
const PG_LANES = 4;
const PG_OPS_PER_WORKER = Number(process.env.LEDGER_MP_PG_OPS ?? 800);

describe("on PostgreSQL", () => {
  let server: PgServer;
  let url: string;
  let sql: SqlDb;

  beforeAll(async () => {
    server = await startPostgres();
    url = await server.createDatabase();
    const pgDb = openPgDatabase(url, { max: 4 });
    await migratePgDatabase(pgDb);
    sql = pgSql(pgDb.pool);
  }, 60_000);

  afterAll(async () => {
    await sql?.close();
    await server?.stop();
  });

  const newUsers = async (prefix: string, n: number) => {
    const ids: number[] = [];
    for (let i = 0; i < n; i++) {
      const row = await sql.write((tx) => tx.get<{ id: number }>("INSERT INTO users (email, password_hash) VALUES (?, 'x') RETURNING id", [`${prefix}${i}@example.com`]));
      ids.push(row!.id);
    }
    return ids;
  };

  /** The invariants in one snapshot of the live database. */
  const snapshotViolations = (userIds: number[]) =>
    sql.write(async (tx) => {
      await tx.run("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY");
      return ledgerViolationsOn(tx, userIds);
    });

  const expectAcknowledged = async (reports: WorkerReport[]) => {
    const ids = reports.flatMap((r) => r.acknowledged);
    expect(new Set(ids).size).toBe(ids.length);
    const found = new Set<number>();
    for (let i = 0; i < ids.length; i += 500) {
      const chunk = ids.slice(i, i + 500);
      for (const r of await sql.all<{ id: number }>(`SELECT id FROM transactions WHERE id IN (${chunk.map(() => "?").join(", ")})`, chunk)) found.add(r.id);
    }
    expect(ids.filter((id) => !found.has(id))).toEqual([]);
  };

  // KNOWN BUGS on PostgreSQL, found by this test (app/ is not this test's to change; reported):
  // 1. a spend reads the user's live grants (ledger-writes debitAndDraw: grants.live) BEFORE its
  //    guarded debit locks the user's row; a concurrent spend of the same user committing in
  //    between leaves it a stale `remaining`, and its draw breaks credit_grants_remaining: the
  //    request fails (23514) where it should have been done or refused;
  // 2. voidHold reads the hold (pending), gives its credits back (users row), then its guarded
  //    void UPDATE finds the hold posted by a concurrent postHold: it answers no row, and still
  //    commits the give-back (credits for a posted hold; the tally below then fails).
  // 3. sweepExpiredHolds selects the due holds, then voids them one by one: a due hold posted
  //    concurrently makes voidHold throw hold_posted, and the whole pass fails (rolled back).
  // Fixed: the ledger now locks the user's row before it reads grants, and the hold's row before
  // it decides a void (ledger-writes.server.ts); the sweep skips a hold settled meanwhile.
  it(
    "three processes, four writes in flight each, lose nothing, double nothing, overspend nothing",
    async () => {
      const userIds = await newUsers("pgmp", 3);
      const clawbackUserId = userIds[0];
      const initial = 100;
      for (const userId of userIds) await grant(sql, { userId, amount: initial, type: "purchase", key: `seed-${userId}`, description: "seed" });
      const seedRows = userIds.length;

      const workers = PG_WORKERS.map((workerId, i) =>
        startWorker({ databaseUrl: url, workerId, seed: 2000 + i, ops: PG_OPS_PER_WORKER, userIds, clawbackUserId, lanes: PG_LANES }),
      );
      try {
        await Promise.all(workers.map((w) => w.ready));
        for (const w of workers) w.child.send("go");

        const liveViolations: string[] = [];
        let liveChecks = 0;
        let polling = true;
        const poll = (async () => {
          while (polling) {
            liveViolations.push(...(await snapshotViolations(userIds)));
            liveChecks++;
            await new Promise((r) => setTimeout(r, 25));
          }
        })();
        let reports: WorkerReport[];
        try {
          reports = await Promise.all(workers.map((w) => w.done));
        } finally {
          polling = false;
          await poll;
        }
        expect([...new Set(liveViolations)]).toEqual([]);
        expect(liveChecks).toBeGreaterThan(0);

        await sweepExpiredHolds(sql, Date.now() + 3_600_000);

        for (const r of reports) expect(r.negativeSpends, `worker ${r.workerId}`).toEqual([]);
        expect(reports.flatMap((r) => r.failedWrites)).toEqual([]);
        const counts: Record<string, number> = {};
        for (const r of reports) for (const [k, n] of Object.entries(r.counts)) counts[k] = (counts[k] ?? 0) + n;
        expect(counts.grant_replayed ?? 0).toBeGreaterThan(0);
        expect(counts.hold_replayed ?? 0).toBeGreaterThan(0);
        expect(counts.hold ?? 0).toBeGreaterThan(100);

        const order = (await sql.all<{ key: string }>("SELECT idempotency_key AS key FROM transactions WHERE idempotency_key LIKE 'hold-_-%' ORDER BY id")).map((r) => r.key[5]);
        const switches = order.filter((w, i) => i > 0 && w !== order[i - 1]).length;
        expect(switches).toBeGreaterThan(20);

        // What the sweeps gave back (voided 'expired' holds), decoded in JS (no json_extract on PostgreSQL).
        const expiredBack = new Map<number, number>();
        for (const r of await sql.all<{ userId: number; amount: number; meta: string | null }>(
          `SELECT user_id AS "userId", amount, meta FROM transactions WHERE status = 'voided'`,
        )) {
          if (voidRecordOf(r)?.voidReason === "expired") expiredBack.set(r.userId, (expiredBack.get(r.userId) ?? 0) - r.amount);
        }
        for (const userId of userIds) {
          const done = reports.reduce((sum, r) => sum + r.net[userId], 0);
          const expected = initial + done + (expiredBack.get(userId) ?? 0);
          expect(await readBalance(sql, userId), `user ${userId}`).toEqual({ balance: expected, onHold: 0, nextExpiry: null });
          if (userId !== clawbackUserId) expect(expected).toBeGreaterThanOrEqual(0);
        }
        const rows = (await sql.get<{ n: number }>("SELECT count(*) AS n FROM transactions"))!.n;
        expect(rows).toBe(seedRows + reports.reduce((sum, r) => sum + r.rowsWritten, 0));
        await expectAcknowledged(reports);

        expect(await ledgerViolationsOn(sql, userIds)).toEqual([]);
        expect((await sql.get<{ n: number }>("SELECT count(*) AS n FROM transactions WHERE status = 'pending'"))!.n).toBe(0);
        // And the shipped script agrees, on PostgreSQL too (its snapshot copy, the same verifier).
        const script = runVerifyScript({ DATABASE_URL: url });
        expect(script.stdout).toContain("OK: no violation");
        expect(script.stdout).toContain(`${rows} transactions`);
        expect(script.status).toBe(0);
        expect((await sql.get<{ n: number }>("SELECT count(*) AS n FROM transactions WHERE type = 'usage' AND balance_after < 0"))!.n).toBe(0);
        console.log(
          `ledger multiprocess on PostgreSQL: ${reports.map((r) => `worker ${r.workerId} ${PG_OPS_PER_WORKER} ops in ${r.ms} ms`).join(", ")} (${PG_LANES} in flight each); ` +
            `${rows} rows, ${switches} switches between writers, ${liveChecks} live snapshot checks; ${JSON.stringify(counts)}`,
        );
      } finally {
        for (const w of workers) if (w.child.exitCode === null) w.child.kill();
      }
    },
    120_000,
  );

  it(
    "three processes spending on one user at once: exactly the credits there were, never more",
    async () => {
      const [userId] = await newUsers("pgburst", 1);
      const budget = 90;
      await grant(sql, { userId, amount: budget, type: "purchase", key: `burst-seed-${userId}`, description: "seed" });
      const workers = PG_WORKERS.map((workerId, i) =>
        startWorker({ databaseUrl: url, workerId, seed: 3000 + i, ops: 0, userIds: [userId], clawbackUserId: userId, lanes: 8, burst: { userId, holds: 60 } }),
      );
      try {
        await Promise.all(workers.map((w) => w.ready));
        for (const w of workers) w.child.send("go");
        const reports = await Promise.all(workers.map((w) => w.done));
        const held = reports.reduce((sum, r) => sum + (r.counts.burst_held ?? 0), 0);
        const refused = reports.reduce((sum, r) => sum + (r.counts.burst_refused ?? 0), 0);
        expect({ held, refused }).toEqual({ held: budget, refused: PG_WORKERS.length * 60 - budget });
        // Every worker got some: the processes really raced.
        for (const r of reports) expect(r.counts.burst_held ?? 0, `worker ${r.workerId}`).toBeGreaterThan(0);
        for (const r of reports) expect(r.negativeSpends).toEqual([]);
        expect(reports.flatMap((r) => r.failedWrites)).toEqual([]);
        expect(await readBalance(sql, userId)).toEqual({ balance: 0, onHold: budget, nextExpiry: null });
        await expectAcknowledged(reports);
        expect(await ledgerViolationsOn(sql, [userId])).toEqual([]);
        console.log(`ledger burst on PostgreSQL: ${reports.map((r) => `worker ${r.workerId} ${r.counts.burst_held ?? 0} held in ${r.ms} ms`).join(", ")}`);
      } finally {
        for (const w of workers) if (w.child.exitCode === null) w.child.kill();
      }
    },
    60_000,
  );

  // Last: it writes a row of its own, which the hammer's row count above does not expect.
  it("ledger:verify on PostgreSQL exits 1 on a violation, names it, and never shows the password", async () => {
    const [userId] = await newUsers("pgbroken", 1);
    await grant(sql, { userId, amount: 10, type: "bonus", key: `broken-${userId}`, description: "x" });
    // Behind the ledger's back, as a bad manual fix would: the balance no longer matches its rows.
    await sql.run("UPDATE users SET credits = 1000 WHERE id = ?", [userId]);
    try {
      const script = runVerifyScript({ DATABASE_URL: url });
      expect(script.status).toBe(1);
      expect(script.stdout).toContain("balance_mismatch");
      expect(script.stdout).toContain(`user ${userId}`);
      const password = decodeURIComponent(new URL(url).password);
      if (password) expect(script.stdout + script.stderr).not.toContain(password);
    } finally {
      await sql.run("UPDATE users SET credits = 10 WHERE id = ?", [userId]);
    }
  });
});

/** `npm run ledger:verify` as an operator runs it, with `env` added (and no DATABASE_URL unless given). */
function runVerifyScript(env: Record<string, string>) {
  const { DATABASE_URL: _ignored, ...rest } = process.env;
  return spawnSync(process.execPath, ["--import", "tsx", "scripts/ledger-verify.ts"], { cwd: ROOT, env: { ...rest, ...env }, encoding: "utf8" });
}
