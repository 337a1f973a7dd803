/**
 * npm run bench:ledger — what the ledger module costs over raw better-sqlite3.
 *
 * Measures hold+post pairs per second through app/services/money/ledger.server.ts against a baseline
 * that runs the same SQL statements (grant-aware: a hold reads the user's live grants, draws from
 * them and records its draws; a grant opens a grant row) in the same transactions (BEGIN IMMEDIATE via
 * better-sqlite3's transaction().immediate()) with no module around them: same pragmas
 * (openMigratedDatabase: WAL, synchronous=FULL), same schema, same kind of file (two files side
 * by side in one directory), same run, interleaved in chunks of 10 so disk drift hits both alike.
 * The ratio is the median, over neighbouring chunk pairs, of module speed / baseline speed (robust
 * to fsync bursts); the ratio of the two medians is printed beside it.
 * Also: BENCH_CALLERS (64) callers at once doing hold+post through the module against the same
 * one-caller baseline (issue 19: group commit lets the writes that wait together share a commit),
 * grants per second, and the same measures with synchronous=OFF on both sides (no fsync, so the
 * module's own CPU overhead shows). Prints a table, then as the LAST line a JSON summary:
 *   {"opsPerSec":…, "baselineOpsPerSec":…, "ratio":…, "concurrentOpsPerSec":…, "concurrentRatio":…, "grantsPerSec":…, "cpuBoundRatio":…}
 *
 * BENCH_DIR (default: a fresh folder in the OS temp dir), BENCH_ROUNDS (5), BENCH_PAIRS (1000
 * per side per round), BENCH_KEEP=1 to keep the files.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type Database from "better-sqlite3";
import { closeDatabase, openMigratedDatabase, type AppDb } from "../../db/client.server";
import { GRANT_SQL, LIVE_FIRST } from "../../app/services/money/ledger-grants.server";
import { grant, hold, postHold } from "../../app/services/money/ledger.server";
import { printWhereTimeGoes, whereTimeGoes } from "./ledger-where";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const PAIRS = Number(process.env.BENCH_PAIRS ?? 1000);
const CHUNK = 10;
const WARMUP = Math.max(200, Math.floor(PAIRS / 2));
const USERS = 10;
const COST = 5;

type Runner = (n: number) => void | Promise<void>;
/** Concurrent callers for the group-commit figure (issue 19: 64). */
const CALLERS = Number(process.env.BENCH_CALLERS ?? 64);

async function setUp(file: string): Promise<{ db: AppDb; userIds: number[] }> {
  const db = openMigratedDatabase(file);
  const insert = db.sqlite.prepare("insert into users(email, password_hash) values (?, 'x')");
  const userIds = Array.from({ length: USERS }, (_, i) => Number(insert.run(`bench${i}@example.com`).lastInsertRowid));
  for (const userId of userIds) await grant(db, { userId, amount: 900_000_000, type: "bonus", key: `bench-seed-${userId}`, description: "bench" });
  return { db, userIds };
}

// ---------------------------------------------------------------------------------------------
// The module

function moduleRunners(db: AppDb, userIds: number[]) {
  let seq = 0;
  const pair = async () => {
    const s = seq++;
    const h = await hold(db, { userId: userIds[s % USERS], cost: COST, key: `m-hold-${s}`, description: "Image", ttlSeconds: 600 });
    if (!h.ok) throw new Error("bench: hold refused");
    await postHold(db, h.transaction.id);
  };
  const pairs: Runner = async (n) => {
    for (let i = 0; i < n; i++) await pair();
  };
  /** n pairs by CALLERS callers at once, each doing its share one after the other (as requests
   * do): the writes that wait together share a commit (group commit, decision 036). */
  const concurrentPairs: Runner = async (n) => {
    const callers = Math.min(CALLERS, n);
    await Promise.all(
      Array.from({ length: callers }, async (_, c) => {
        for (let i = c; i < n; i += callers) await pair();
      }),
    );
  };
  const grants: Runner = async (n) => {
    for (let i = 0; i < n; i++) {
      const s = seq++;
      await grant(db, { userId: userIds[s % USERS], amount: 100, type: "purchase", key: `m-grant-${s}`, description: "Bought credits", stripePaymentId: `pi_${s}` });
    }
  };
  return { pairs, concurrentPairs, grants };
}

// ---------------------------------------------------------------------------------------------
// The baseline: the same statements, hand-wired, nothing else.

const COLUMNS = `id, user_id AS userId, amount, type, status, idempotency_key AS idempotencyKey,
  description, stripe_payment_id AS stripePaymentId, balance_after AS balanceAfter,
  expires_at AS expiresAt, admin_id AS adminId, reason, meta, created_at AS createdAt,
  settled_at AS settledAt`;

function baselineRunners(sqlite: Database.Database, userIds: number[]) {
  const byKey = sqlite.prepare(`SELECT ${COLUMNS} FROM transactions WHERE idempotency_key = ?`);
  const debit = sqlite.prepare(
    `UPDATE users SET credits = credits - ?, updated_at = ? WHERE id = ? AND credits >= ? RETURNING credits`,
  );
  const change = sqlite.prepare(`UPDATE users SET credits = credits + ?, updated_at = ? WHERE id = ? RETURNING credits`);
  const insert = sqlite.prepare(
    `INSERT INTO transactions (user_id, amount, type, status, idempotency_key, description,
       stripe_payment_id, balance_after, expires_at, admin_id, reason, meta, created_at, settled_at)
     VALUES (@userId, @amount, @type, @status, @key, @description, @stripePaymentId, @balanceAfter,
       @expiresAt, @adminId, @reason, @meta, @createdAt, @settledAt)
     RETURNING ${COLUMNS}`,
  );
  const post = sqlite.prepare(
    `UPDATE transactions SET status = 'posted', settled_at = ?
     WHERE id = ? AND status = 'pending' AND type = 'usage' RETURNING ${COLUMNS}`,
  );
  // The grant statements, as ledger-grants.server.ts runs them (its very texts, so a change there
  // is a change here): the first 8 live grants; with 8 or more, the spendable sum, and every live
  // grant when those 8 do not cover the cost.
  const liveFirst = sqlite.prepare(GRANT_SQL.liveFirst);
  const spendableSum = sqlite.prepare(GRANT_SQL.spendable);
  const live = sqlite.prepare(GRANT_SQL.live);
  const take = sqlite.prepare(`UPDATE credit_grants SET remaining = remaining - ? WHERE id = ?`);
  const draw = sqlite.prepare(
    `INSERT INTO grant_draws (tx_id, grant_id, amount) VALUES (?, ?, ?)
     ON CONFLICT (tx_id, grant_id) DO UPDATE SET amount = amount + excluded.amount`,
  );
  const open = sqlite.prepare(
    `INSERT INTO credit_grants (user_id, source_tx_id, kind, amount, remaining, expires_at, created_at)
     VALUES (@userId, @sourceTxId, @kind, @amount, @amount, @expiresAt, @now) RETURNING id`,
  );

  const holdTx = sqlite.transaction((userId: number, key: string, now: number) => {
    if (byKey.get(key)) throw new Error("bench: key exists");
    type Grant = { id: number; remaining: number };
    let grants = liveFirst.all({ userId, now }) as Grant[];
    let spendable = 0;
    for (const g of grants) spendable += g.remaining;
    if (grants.length >= LIVE_FIRST) {
      spendable = (spendableSum.get({ userId, now }) as { total: number }).total;
      let covers = 0;
      for (const g of grants) if (g.remaining > 0) covers += g.remaining;
      if (spendable >= COST && covers < COST) grants = live.all({ userId, now }) as Grant[];
    }
    if (spendable < COST) throw new Error("bench: hold refused");
    const debited = debit.get(COST, now, userId, COST) as { credits: number } | undefined;
    if (!debited) throw new Error("bench: hold refused");
    const row = insert.get({
      userId, amount: -COST, type: "usage", status: "pending", key, description: "Image", stripePaymentId: null,
      balanceAfter: debited.credits, expiresAt: now + 600_000, adminId: null, reason: null, meta: null, createdAt: now, settledAt: null,
    }) as { id: number };
    let left = COST;
    for (const g of grants) {
      if (left === 0) break;
      const n = Math.min(left, g.remaining);
      if (n <= 0) continue;
      take.run(n, g.id);
      draw.run(row.id, g.id, n);
      left -= n;
    }
    return row;
  });
  const postTx = sqlite.transaction((id: number, now: number) => {
    if (!post.get(now, id)) throw new Error("bench: post failed");
  });
  const grantTx = sqlite.transaction((userId: number, key: string, paymentId: string, now: number) => {
    if (byKey.get(key)) throw new Error("bench: key exists");
    const changed = change.get(100, now, userId) as { credits: number };
    const row = insert.get({
      userId, amount: 100, type: "purchase", status: "posted", key, description: "Bought credits", stripePaymentId: paymentId,
      balanceAfter: changed.credits, expiresAt: null, adminId: null, reason: null, meta: null, createdAt: now, settledAt: now,
    }) as { id: number };
    open.get({ userId, sourceTxId: row.id, kind: "purchase", amount: 100, expiresAt: null, now });
    return row;
  });

  let seq = 0;
  const pairs: Runner = (n) => {
    for (let i = 0; i < n; i++) {
      const s = seq++;
      const row = holdTx.immediate(userIds[s % USERS], `b-hold-${s}`, Date.now());
      postTx.immediate(row.id, Date.now());
    }
  };
  const grants: Runner = (n) => {
    for (let i = 0; i < n; i++) {
      const s = seq++;
      grantTx.immediate(userIds[s % USERS], `b-grant-${s}`, `pi_${s}`, Date.now());
    }
  };
  return { pairs, grants };
}

// ---------------------------------------------------------------------------------------------

/** Seconds one call of run(n) takes. */
async function time(run: Runner, n: number): Promise<number> {
  const t0 = process.hrtime.bigint();
  await run(n);
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/**
 * One round: `total` operations per side, run in small alternating chunks (module, baseline,
 * baseline, module, ...) so that the disk's mood (fsync latency on a shared machine swings by 5x
 * within seconds) weighs on both sides alike. Returns operations per second for each side, and
 * for each pair of neighbouring chunks the module's speed relative to the baseline's.
 */
async function round(a: Runner, b: Runner, total: number, chunk: number): Promise<{ a: number; b: number; paired: number[] }> {
  let ta = 0;
  let tb = 0;
  const paired: number[] = [];
  for (let done = 0, i = 0; done < total; done += chunk, i++) {
    const n = Math.min(chunk, total - done);
    let da: number;
    let db: number;
    if (i % 2 === 0) {
      da = await time(a, n);
      db = await time(b, n);
    } else {
      db = await time(b, n);
      da = await time(a, n);
    }
    ta += da;
    tb += db;
    paired.push(db / da);
  }
  return { a: total / ta, b: total / tb, paired };
}

type Measured = { module: number[]; baseline: number[]; paired: number[] };

async function measure(a: Runner, b: Runner, chunk = CHUNK): Promise<Measured> {
  const out: Measured = { module: [], baseline: [], paired: [] };
  for (let r = 0; r < ROUNDS; r++) {
    const x = await round(a, b, PAIRS, chunk);
    out.module.push(x.a);
    out.baseline.push(x.b);
    out.paired.push(...x.paired);
  }
  return out;
}

/** The module's speed relative to the baseline: the median over neighbouring chunk pairs, which
 * a burst of slow fsyncs (hitting one chunk) cannot drag the way it drags a ratio of totals. */
function ratioOf(x: Measured): number {
  return median(x.paired);
}

async function main(): Promise<void> {
  const dir = process.env.BENCH_DIR ? path.resolve(process.env.BENCH_DIR) : fs.mkdtempSync(path.join(os.tmpdir(), "ledger-bench-"));
  fs.mkdirSync(dir, { recursive: true });
  const files = ["module.sqlite", "baseline.sqlite", "module-nosync.sqlite", "baseline-nosync.sqlite"].map((f) => path.join(dir, f));
  const [m, b, mc, bc] = await Promise.all(files.map(setUp));
  // The CPU-bound view: the same, with synchronous=OFF on both sides, so no fsync hides the
  // module's own overhead. Informational; the headline ratio is with the app's real pragmas.
  mc.db.sqlite.pragma("synchronous = OFF");
  bc.db.sqlite.pragma("synchronous = OFF");
  const mod = moduleRunners(m.db, m.userIds);
  const base = baselineRunners(b.db.sqlite, b.userIds);
  const modCpu = moduleRunners(mc.db, mc.userIds);
  const baseCpu = baselineRunners(bc.db.sqlite, bc.userIds);

  try {
    console.log(`ledger bench: ${ROUNDS} rounds x ${PAIRS} ops per side in chunks of ${CHUNK} (warm-up ${WARMUP}), files in ${dir}`);
    console.log(
      `  pragmas: journal_mode=${b.db.sqlite.pragma("journal_mode", { simple: true })} ` +
        `synchronous=${b.db.sqlite.pragma("synchronous", { simple: true })} (2 = FULL, as the app runs)`,
    );
    for (const r of [mod, base, modCpu, baseCpu]) {
      await r.pairs(WARMUP);
      await r.grants(WARMUP);
    }

    const pairs = await measure(mod.pairs, base.pairs);
    // Issue 19: 64 callers through the module against the same baseline (one caller, a
    // transaction per operation); chunks of 10 pairs per caller.
    const concurrent = await measure(mod.concurrentPairs, base.pairs, CALLERS * CHUNK);
    // Right after, on the same file (the grants measured next would add live grants to read).
    const wherePairs = CALLERS * CHUNK * 4;
    const where = await whereTimeGoes(m.db.sqlite, wherePairs, mod.concurrentPairs);
    const grants = await measure(mod.grants, base.grants);
    const pairsCpu = await measure(modCpu.pairs, baseCpu.pairs);
    const grantsCpu = await measure(modCpu.grants, baseCpu.grants);

    const opsPerSec = median(pairs.module);
    const baselineOpsPerSec = median(pairs.baseline);
    const grantsPerSec = median(grants.module);
    const fmt = (x: number) => Math.round(x).toString().padStart(9);
    const range = (xs: number[]) => `${Math.round(Math.min(...xs))}-${Math.round(Math.max(...xs))}`;
    const line = (name: string, x: Measured) => {
      const mm = median(x.module);
      const bb = median(x.baseline);
      console.log(
        `  ${name.padEnd(34)}${fmt(mm)}  ${fmt(bb)}   ${ratioOf(x).toFixed(3)}     ${(mm / bb).toFixed(3)}   ${range(x.module)} / ${range(x.baseline)}`,
      );
    };
    console.log("");
    console.log(`  ${"median per second".padEnd(34)}   module   baseline   ratio   (of medians)   per-round range module / baseline`);
    line("hold+post pairs (synchronous=FULL)", pairs);
    line(`hold+post, ${CALLERS} callers (FULL)`, concurrent);
    line("grants (synchronous=FULL)", grants);
    line("hold+post pairs (synchronous=OFF)", pairsCpu);
    line("grants (synchronous=OFF)", grantsCpu);
    console.log(`  (a pair is two write transactions: ${Math.round(opsPerSec * 2)} module commits/s with fsync)`);
    console.log("");
    printWhereTimeGoes(where, wherePairs, CALLERS);
    console.log("");
    console.log(
      JSON.stringify({
        opsPerSec: Math.round(opsPerSec),
        baselineOpsPerSec: Math.round(baselineOpsPerSec),
        ratio: Number(ratioOf(pairs).toFixed(3)),
        concurrentCallers: CALLERS,
        concurrentOpsPerSec: Math.round(median(concurrent.module)),
        concurrentRatio: Number(ratioOf(concurrent).toFixed(3)),
        grantsPerSec: Math.round(grantsPerSec),
        cpuBoundRatio: Number(ratioOf(pairsCpu).toFixed(3)),
        concurrentUsPerPair: Math.round((where.wallMs / wherePairs) * 10000) / 10,
        concurrentSqlShare: Math.round((where.sqlMs / where.wallMs) * 100) / 100,
      }),
    );
  } finally {
    for (const x of [m, b, mc, bc]) closeDatabase(x.db);
    if (!process.env.BENCH_KEEP && !process.env.BENCH_DIR) fs.rmSync(dir, { recursive: true, force: true });
  }
}

await main();
