/**
 * npm run bench (its ledger-pg part) — the ledger module on PostgreSQL against raw node-postgres.
 *
 * Issue 18: hold+post through app/services/money/ledger.server.ts on the PostgreSQL executor
 * (db/sql.server.ts pgSql) against a baseline that sends the same statements (the module's own
 * LEDGER_SQL and GRANT_SQL texts, with $n placeholders written out by hand) over the same kind of
 * pool, one BEGIN … COMMIT per operation, nothing around them. Two databases on one server, the
 * server's durable defaults (fsync, synchronous_commit on), interleaved chunks as in ledger.ts.
 * One caller, then BENCH_PG_CALLERS (16) callers on both sides.
 *
 * The server: BENCH_POSTGRES_URL (a database is created on it), else a throwaway cluster from
 * Debian's binaries (tests/support/postgres.ts). Without either the part says so and exits 0 with
 * {"skipped": …}. Last line: {"opsPerSec", "baselineOpsPerSec", "ratio", "concurrent…"}.
 */
import pg from "pg";
import { migratePgDatabase, openPgDatabase } from "../../db/pg-client.server";
import { pgSql, toPgPlaceholders, type SqlDb } from "../../db/sql.server";
import { GRANT_SQL, LIVE_FIRST } from "../../app/services/money/ledger-grants.server";
import { grant, hold, postHold } from "../../app/services/money/ledger.server";
import { startPostgres, type PgServer } from "../../tests/support/postgres";
import { median } from "./support";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const PAIRS = Number(process.env.BENCH_PG_PAIRS ?? 300);
const CHUNK = 10;
const USERS = 10;
const COST = 5;
const CALLERS = Number(process.env.BENCH_PG_CALLERS ?? 16);
type Runner = (n: number) => Promise<void>;

async function setUp(url: string): Promise<{ pool: pg.Pool; sql: SqlDb; userIds: number[] }> {
  const db = openPgDatabase(url, { max: CALLERS + 2 });
  await migratePgDatabase(db);
  const sql = pgSql(db.pool);
  const userIds: number[] = [];
  for (let i = 0; i < USERS; i++) {
    const row = await sql.write((tx) => tx.get<{ id: number }>("INSERT INTO users (email, password_hash) VALUES (?, 'x') RETURNING id", [`bench${i}@example.com`]));
    userIds.push(row!.id);
    await grant(sql, { userId: row!.id, amount: 900_000_000, type: "bonus", key: `bench-seed-${row!.id}`, description: "bench" });
  }
  return { pool: db.pool, sql, userIds };
}

function moduleRunners(sql: SqlDb, userIds: number[]) {
  let seq = 0;
  const pair = async () => {
    const s = seq++;
    const h = await hold(sql, { userId: userIds[s % USERS]!, cost: COST, key: `m-hold-${s}`, description: "Image", ttlSeconds: 600 });
    if (!h.ok) throw new Error("bench: hold refused");
    await postHold(sql, h.transaction.id);
  };
  return { pair };
}

// The module's statements (ledger-sql.server.ts, ledger-grants.server.ts), placeholders numbered.
const COLUMNS = `id, user_id AS "userId", amount, type, status, idempotency_key AS "idempotencyKey",
  description, stripe_payment_id AS "stripePaymentId", balance_after AS "balanceAfter",
  expires_at AS "expiresAt", admin_id AS "adminId", reason, meta, created_at AS "createdAt",
  settled_at AS "settledAt", api_key_id AS "apiKeyId"`;
const RAW = {
  byKey: `SELECT ${COLUMNS} FROM transactions WHERE idempotency_key = $1`,
  // The spend's first read, its very text: @userId and @now become $1 and $2.
  liveFirst: toPgPlaceholders(GRANT_SQL.liveFirst).text,
  spendable: toPgPlaceholders(GRANT_SQL.spendable).text,
  live: toPgPlaceholders(GRANT_SQL.live).text,
  debit: `UPDATE users SET credits = credits - $1, updated_at = $2 WHERE id = $3 AND credits >= $1 RETURNING credits`,
  insert: `INSERT INTO transactions (user_id, amount, type, status, idempotency_key, description,
     stripe_payment_id, balance_after, expires_at, admin_id, reason, meta, created_at, settled_at, api_key_id)
   VALUES ($1, $2, 'usage', 'pending', $3, 'Image', NULL, $4, $5, NULL, NULL, NULL, $6, NULL, NULL) RETURNING ${COLUMNS}`,
  take: `UPDATE credit_grants SET remaining = remaining - $1 WHERE id = $2`,
  draw: `INSERT INTO grant_draws (tx_id, grant_id, amount) VALUES ($1, $2, $3)
   ON CONFLICT (tx_id, grant_id) DO UPDATE SET amount = grant_draws.amount + excluded.amount`,
  post: `UPDATE transactions SET status = 'posted', settled_at = $1 WHERE id = $2 AND status = 'pending' AND type = 'usage' RETURNING ${COLUMNS}`,
};

function baselineRunners(pool: pg.Pool, userIds: number[]) {
  let seq = 0;
  const inTx = async <T>(body: (c: pg.PoolClient) => Promise<T>): Promise<T> => {
    const c = await pool.connect();
    try {
      await c.query("BEGIN");
      const v = await body(c);
      await c.query("COMMIT");
      return v;
    } catch (error) {
      await c.query("ROLLBACK");
      throw error;
    } finally {
      c.release();
    }
  };
  const pair = async () => {
    const s = seq++;
    const userId = userIds[s % USERS]!;
    const key = `b-hold-${s}`;
    const id = await inTx(async (c) => {
      const now = Date.now();
      if ((await c.query(RAW.byKey, [key])).rows[0]) throw new Error("bench: key exists");
      let grants = (await c.query<{ id: number; remaining: number }>(RAW.liveFirst, [userId, now])).rows;
      if (grants.length >= LIVE_FIRST) {
        const spendable = Number((await c.query<{ total: string }>(RAW.spendable, [userId, now])).rows[0]!.total);
        let covers = 0;
        for (const g of grants) if (Number(g.remaining) > 0) covers += Number(g.remaining);
        if (spendable < COST) throw new Error("bench: hold refused");
        if (covers < COST) grants = (await c.query<{ id: number; remaining: number }>(RAW.live, [userId, now])).rows;
      }
      const debited = (await c.query<{ credits: number }>(RAW.debit, [COST, now, userId])).rows[0];
      if (!debited) throw new Error("bench: hold refused");
      const row = (await c.query<{ id: number }>(RAW.insert, [userId, -COST, key, debited.credits, now + 600_000, now])).rows[0]!;
      let left = COST;
      for (const g of grants) {
        if (left === 0) break;
        const n = Math.min(left, Number(g.remaining));
        if (n <= 0) continue;
        await c.query(RAW.take, [n, g.id]);
        await c.query(RAW.draw, [row.id, g.id, n]);
        left -= n;
      }
      return row.id;
    });
    await inTx(async (c) => {
      if (!(await c.query(RAW.post, [Date.now(), id])).rows[0]) throw new Error("bench: post failed");
    });
  };
  return { pair };
}

const sequential = (pair: () => Promise<void>): Runner => async (n) => {
  for (let i = 0; i < n; i++) await pair();
};
const concurrent = (pair: () => Promise<void>): Runner => async (n) => {
  const callers = Math.min(CALLERS, n);
  await Promise.all(Array.from({ length: callers }, async (_, c) => {
    for (let i = c; i < n; i += callers) await pair();
  }));
};

async function time(run: Runner, n: number): Promise<number> {
  const t0 = process.hrtime.bigint();
  await run(n);
  return Number(process.hrtime.bigint() - t0) / 1e9;
}
async function measure(a: Runner, b: Runner, chunk: number) {
  const out = { module: [] as number[], baseline: [] as number[], paired: [] as number[] };
  for (let r = 0; r < ROUNDS; r++) {
    let ta = 0;
    let tb = 0;
    for (let done = 0, i = 0; done < PAIRS; done += chunk, i++) {
      const n = Math.min(chunk, PAIRS - done);
      const [da, db] = i % 2 === 0 ? [await time(a, n), await time(b, n)] : (([y, x]) => [x, y])([await time(b, n), await time(a, n)]);
      ta += da!;
      tb += db!;
      out.paired.push(db! / da!);
    }
    out.module.push(PAIRS / ta);
    out.baseline.push(PAIRS / tb);
  }
  return out;
}

async function main(): Promise<void> {
  let server: PgServer;
  try {
    server = process.env.BENCH_POSTGRES_URL ? await sharedServer(process.env.BENCH_POSTGRES_URL) : await startPostgres();
  } catch (error) {
    console.log(`ledger-pg: no PostgreSQL to measure on (${(error as Error).message.split("\n")[0]})`);
    console.log(JSON.stringify({ skipped: "no PostgreSQL server or binaries" }));
    return;
  }
  const [m, b] = [await setUp(await server.createDatabase()), await setUp(await server.createDatabase())];
  try {
    const mod = moduleRunners(m.sql, m.userIds);
    const base = baselineRunners(b.pool, b.userIds);
    await sequential(mod.pair)(100);
    await sequential(base.pair)(100);
    console.log(`ledger on PostgreSQL: ${ROUNDS} rounds x ${PAIRS} hold+post pairs per side, chunks of ${CHUNK}; then ${CALLERS} callers on each side`);
    const one = await measure(sequential(mod.pair), sequential(base.pair), CHUNK);
    const many = await measure(concurrent(mod.pair), concurrent(base.pair), CALLERS * 2);
    const row = (name: string, x: typeof one) =>
      console.log(`  ${name.padEnd(28)}${Math.round(median(x.module)).toString().padStart(8)}  ${Math.round(median(x.baseline)).toString().padStart(8)}   ${median(x.paired).toFixed(3)}`);
    console.log(`  ${"pairs per second".padEnd(28)}  module  raw pg   ratio`);
    row("one caller", one);
    row(`${CALLERS} callers`, many);
    console.log(
      JSON.stringify({
        opsPerSec: Math.round(median(one.module)),
        baselineOpsPerSec: Math.round(median(one.baseline)),
        ratio: Number(median(one.paired).toFixed(3)),
        concurrentCallers: CALLERS,
        concurrentOpsPerSec: Math.round(median(many.module)),
        concurrentBaselineOpsPerSec: Math.round(median(many.baseline)),
        concurrentRatio: Number(median(many.paired).toFixed(3)),
      }),
    );
  } finally {
    await m.sql.close();
    await b.sql.close();
    await server.stop();
  }
}

/** A server the operator gave: databases are made on it and dropped after. */
async function sharedServer(url: string): Promise<PgServer> {
  process.env.TEST_POSTGRES_URL = url;
  return startPostgres();
}

await main();
