/**
 * The PostgreSQL triggers of daily_totals and user_totals (db/migrations-pg/0002, decision 037)
 * keep the same figures SQLite's do: after a random mix of inserts (one row and many a statement),
 * holds posted and voided one by one and in bulk, rows moved to another day, deleted, with
 * malformed meta among them, the kept figures equal the rows' own, computed here in JavaScript.
 * A database filled before the migration is backfilled; writers of different shards never wait
 * on one another.
 */
import pg from "pg";
import { afterAll, beforeAll, expect, it } from "vitest";
import { closePgDatabase, migratePgDatabase, openPgDatabase, PG_MIGRATIONS_DIR, type PgDb } from "../../db/pg-client.server";
import { migrationsUpTo } from "../support/daily-totals";
import { seededRandom } from "../../scripts/seeded-random";
import { startPostgres, type PgServer } from "../support/postgres";

const DAY_MS = 86_400_000;
let server: PgServer;
let db: PgDb;
const q = async <T extends object = Record<string, unknown>>(text: string, params: unknown[] = []) => (await db.pool.query<T>(text, params)).rows;

beforeAll(async () => {
  server = await startPostgres();
  db = openPgDatabase(server.url);
  const older = migrationsUpTo("0000_init", PG_MIGRATIONS_DIR);
  try {
    expect(await migratePgDatabase(db, older.dir)).toEqual(["0000_init"]);
  } finally {
    older.remove();
  }
});

afterAll(async () => {
  if (db) await closePgDatabase(db);
  if (server) await server.stop();
});

type Row = { user_id: number; amount: number; type: string; status: string; meta: string | null; created_at: number };

/** What the figures must be, from the rows themselves (meta that is not JSON carries no money). */
async function expectedFigures(): Promise<string[]> {
  const rows = await q<Row>("SELECT user_id, amount, type, status, meta, created_at FROM transactions");
  const groups = new Map<string, { credits: number; revenue: number; rows: number }>();
  for (const r of rows) {
    let meta: Record<string, unknown> | null = null;
    try {
      const parsed: unknown = r.meta === null ? null : JSON.parse(r.meta);
      meta = parsed && typeof parsed === "object" && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : null;
    } catch {
      meta = null;
    }
    const purchase = r.type === "purchase";
    const currency = purchase && typeof meta?.currency === "string" ? meta.currency.toLowerCase() : "";
    const revenue = purchase && typeof meta?.amountTotal === "number" ? meta.amountTotal : 0;
    const key = JSON.stringify([String(Math.floor(Number(r.created_at) / DAY_MS)), r.type, r.status, currency]);
    const g = groups.get(key) ?? { credits: 0, revenue: 0, rows: 0 };
    g.credits += Number(r.amount);
    g.revenue += revenue;
    g.rows += 1;
    groups.set(key, g);
  }
  return [...groups].map(([key, g]) => JSON.stringify([...JSON.parse(key), String(g.credits), String(g.revenue), String(g.rows)])).sort();
}

/** user_daily_totals against the rows, grouped by PostgreSQL itself (no meta involved). */
async function userDayFigures() {
  const text = (rows: object[]) => rows.map((r) => JSON.stringify(Object.values(r).map(String))).sort();
  return {
    kept: text(await q("SELECT user_id, day, type, status, credits, row_count FROM user_daily_totals WHERE row_count <> 0 OR credits <> 0")),
    direct: text(await q("SELECT user_id, created_at / 86400000, type, status, sum(amount), count(*) FROM transactions GROUP BY 1, 2, 3, 4")),
  };
}

async function keptFigures(): Promise<string[]> {
  const rows = await q(
    `SELECT day, type, status, currency, sum(credits) AS credits, sum(revenue_minor) AS revenue, sum(row_count) AS n
     FROM daily_totals GROUP BY 1, 2, 3, 4 HAVING sum(row_count) <> 0 OR sum(credits) <> 0 OR sum(revenue_minor) <> 0`,
  );
  return rows.map((r) => JSON.stringify(Object.values(r).map(String))).sort();
}

async function userFigures() {
  const [kept] = await q<{ users: string; credits: string }>("SELECT coalesce(sum(users), 0) AS users, coalesce(sum(credits), 0) AS credits FROM user_totals");
  const [direct] = await q<{ users: string; credits: string }>("SELECT count(*) AS users, coalesce(sum(credits), 0) AS credits FROM users");
  return { kept: { users: String(kept!.users), credits: String(kept!.credits) }, direct: { users: String(direct!.users), credits: String(direct!.credits) } };
}

let keyN = 0;
const T0 = Date.UTC(2027, 4, 3, 20);

function randomRow(random: () => number, userIds: number[]): unknown[] {
  const pick = <T>(items: T[]) => items[Math.floor(random() * items.length)]!;
  const type = pick(["purchase", "purchase", "bonus", "usage", "refund", "adjustment", "expire", "plan", "redeem", "topup"]);
  const pending = type === "usage" && random() < 0.6;
  const amount = type === "usage" || type === "refund" || type === "expire" ? -1 - Math.floor(random() * 50) : 1 + Math.floor(random() * 200);
  const meta =
    type === "purchase"
      ? pick([
          JSON.stringify({ amountTotal: 100 + Math.floor(random() * 9000), currency: pick(["usd", "EUR", "gbp"]) }),
          JSON.stringify({ amountTotal: 500 }),
          "not json",
          "[1, 2]",
          null,
        ])
      : pick([null, '{"reason":"x"}', "{broken"]);
  return [pick(userIds), amount, type, pending ? "pending" : "posted", `pg-totals-${++keyN}`, meta, T0 + Math.floor(random() * 6 * DAY_MS)];
}

async function insertRows(rows: unknown[][]): Promise<void> {
  const params: unknown[] = [];
  const tuples = rows.map((row) => `(${row.map((v) => `$${params.push(v)}`).join(", ")}, 'x', 0)`);
  await q(`INSERT INTO transactions (user_id, amount, type, status, idempotency_key, meta, created_at, description, balance_after) VALUES ${tuples.join(", ")}`, params);
}

it("backfills a database filled before the migration, then keeps every figure through a random mix of writes", { timeout: 120_000 }, async () => {
  const random = seededRandom(7);
  const users = await q<{ id: number }>(
    "INSERT INTO users (email, password_hash, credits) SELECT 'pg' || g || '@example.com', 'x', g * 10 FROM generate_series(1, 40) g RETURNING id",
  );
  const userIds = users.map((u) => Number(u.id));
  await insertRows(Array.from({ length: 300 }, () => randomRow(random, userIds)));
  const before = await expectedFigures();
  expect(before.length).toBeGreaterThan(30);

  expect(await migratePgDatabase(db)).toEqual(["0001_daily_totals", "0002_daily_totals_triggers", "0003_generation_leases"]);
  expect(await keptFigures()).toEqual(before);
  const userDays = await userDayFigures();
  expect(userDays.kept).toEqual(userDays.direct);
  const afterMigration = await userFigures();
  expect(afterMigration.kept).toEqual(afterMigration.direct);
  // Spread over shards: user id % 16.
  expect(Number((await q<{ n: string }>("SELECT count(DISTINCT shard) AS n FROM user_totals"))[0]!.n)).toBe(16);

  const statements = [
    async () => insertRows([randomRow(random, userIds)]),
    async () => insertRows(Array.from({ length: 1 + Math.floor(random() * 40) }, () => randomRow(random, userIds))),
    async () => q("UPDATE transactions SET status = 'posted', settled_at = 1 WHERE id = (SELECT min(id) FROM transactions WHERE status = 'pending')"),
    async () => q(`UPDATE transactions SET status = 'voided', meta = '{"void":"failed"}' WHERE id IN (SELECT id FROM transactions WHERE status = 'pending' ORDER BY random() LIMIT 5)`),
    async () => q("UPDATE transactions SET created_at = created_at - $1 WHERE id IN (SELECT id FROM transactions ORDER BY random() LIMIT 3)", [DAY_MS]),
    async () => q(`UPDATE transactions SET meta = '{"amountTotal":77,"currency":"chf"}' WHERE id = (SELECT max(id) FROM transactions WHERE type = 'purchase')`),
    async () => q("UPDATE transactions SET description = 'renamed', expires_at = 5 WHERE id IN (SELECT id FROM transactions ORDER BY random() LIMIT 10)"),
    async () => q("DELETE FROM transactions WHERE id IN (SELECT id FROM transactions ORDER BY random() LIMIT 4)"),
    async () => q("UPDATE users SET credits = credits + (random() * 100)::int - 50 WHERE id IN (SELECT id FROM users ORDER BY random() LIMIT 7)"),
    async () => q("INSERT INTO users (email, password_hash, credits) VALUES ($1, 'x', 33)", [`late${++keyN}@example.com`]),
    async () => q("UPDATE users SET email = email || '.moved' WHERE id = $1", [userIds[Math.floor(random() * userIds.length)]]),
    async () => q("UPDATE transactions SET user_id = $1 WHERE id = (SELECT max(id) FROM transactions)", [userIds[Math.floor(random() * userIds.length)]]),
  ];
  for (let step = 0; step < 120; step++) {
    await statements[Math.floor(random() * statements.length)]!();
    if (step % 20 === 19) {
      expect(await keptFigures()).toEqual(await expectedFigures());
      const u = await userFigures();
      expect(u.kept).toEqual(u.direct);
      const d = await userDayFigures();
      expect(d.kept).toEqual(d.direct);
    }
  }
  // A user nobody's rows name can go; the figures follow.
  await q("DELETE FROM users WHERE email LIKE 'late%'");
  const u = await userFigures();
  expect(u.kept).toEqual(u.direct);
  expect(await keptFigures()).toEqual(await expectedFigures());
  expect((await keptFigures()).some((f) => f.includes('"voided"'))).toBe(true);
});

it("keeps writers of different shards apart: a hold does not wait for another user's open transaction", { timeout: 60_000 }, async () => {
  const [a, b] = await q<{ id: number }>(
    "INSERT INTO users (email, password_hash) VALUES ('shard-a@example.com', 'x'), ('shard-b@example.com', 'x') RETURNING id",
  );
  expect(Number(a!.id) % 16).not.toBe(Number(b!.id) % 16);
  const first = new pg.Client({ connectionString: server.url });
  const second = new pg.Client({ connectionString: server.url });
  await Promise.all([first.connect(), second.connect()]);
  try {
    const holdFor = (client: pg.Client, userId: number, key: string) =>
      client.query(
        "INSERT INTO transactions (user_id, amount, type, status, idempotency_key, description, balance_after, created_at) VALUES ($1, -5, 'usage', 'pending', $2, 'x', 0, $3)",
        [userId, key, T0],
      );
    await first.query("BEGIN");
    await holdFor(first, Number(a!.id), "shard-a-hold");
    await second.query("BEGIN");
    await second.query("SET LOCAL lock_timeout = '2s'");
    await holdFor(second, Number(b!.id), "shard-b-hold"); // same day, type and status: another shard's row
    await second.query("COMMIT");
    await first.query("COMMIT");
  } finally {
    await Promise.all([first.end(), second.end()]);
  }
  expect(await keptFigures()).toEqual(await expectedFigures());
});

it("empties the figures when a table is truncated", async () => {
  await q("TRUNCATE transactions CASCADE");
  expect(await keptFigures()).toEqual([]);
  expect(await q("SELECT * FROM daily_totals")).toEqual([]);
  expect(await q("SELECT * FROM user_daily_totals")).toEqual([]);
});
