import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closePgDatabase, migratePgDatabase, openPgDatabase, type PgDb } from "../../db/pg-client.server";
import * as pgSchema from "../../db/schema.pg";
import { createTestDb } from "../support/db";
import { startPostgres, type PgServer } from "../support/postgres";

// Both dialects, migrated from empty, must hold the same tables, columns, keys, indexes and CHECKs
// (decision 034), so a schema change that forgets one dialect fails here; then the guarantees the
// money path leans on are tried on PostgreSQL itself.

type Index = { name: string; columns: string[]; unique: boolean; partial: boolean };
type ForeignKey = { column: string; table: string; to: string; onDelete: string };
type TableShape = { columns: Array<{ name: string; notNull: boolean }>; primaryKey: string[]; indexes: Index[]; checks: string[]; foreignKeys: ForeignKey[] };
type Shape = Record<string, TableShape>;

let server: PgServer;
let pgDb: PgDb;
const sqliteDb = createTestDb();

beforeAll(async () => {
  server = await startPostgres();
  pgDb = openPgDatabase(server.url);
  expect(await migratePgDatabase(pgDb)).toEqual(["0000_init", "0001_daily_totals", "0002_daily_totals_triggers", "0003_generation_leases"]);
});

afterAll(async () => {
  sqliteDb.remove();
  if (pgDb) await closePgDatabase(pgDb);
  if (server) await server.stop();
});

const byName = <T extends { name: string }>(a: T, b: T) => a.name.localeCompare(b.name);

function sqliteShape(): Shape {
  const { sqlite } = sqliteDb;
  const tables = sqlite
    .prepare<[], { name: string; sql: string }>(
      "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name != '__drizzle_migrations' ORDER BY name",
    )
    .all();
  const shape: Shape = {};
  for (const { name, sql } of tables) {
    const info = sqlite.prepare<[], { name: string; notnull: number; pk: number }>(`SELECT name, "notnull", pk FROM pragma_table_info('${name}')`).all();
    const indexes = sqlite
      .prepare<[], { name: string; unique: number; origin: string; partial: number }>(`SELECT name, "unique", origin, partial FROM pragma_index_list('${name}')`)
      .all()
      .filter((ix) => ix.origin !== "pk")
      .map((ix) => ({
        name: ix.name,
        columns: sqlite.prepare<[], { name: string }>(`SELECT name FROM pragma_index_info('${ix.name}') ORDER BY seqno`).all().map((c) => c.name),
        unique: ix.unique === 1,
        partial: ix.partial === 1,
      }));
    const foreignKeys = sqlite
      .prepare<[], { from: string; table: string; to: string; on_delete: string }>(`SELECT "from", "table", "to", on_delete FROM pragma_foreign_key_list('${name}')`)
      .all()
      .map((fk) => ({ column: fk.from, table: fk.table, to: fk.to, onDelete: refusing(fk.on_delete.toLowerCase()) }));
    shape[name] = {
      columns: info.map((c) => ({ name: c.name, notNull: c.notnull === 1 || c.pk > 0 })).sort(byName),
      primaryKey: info.filter((c) => c.pk > 0).sort((a, b) => a.pk - b.pk).map((c) => c.name),
      indexes: indexes.sort(byName),
      checks: [...sql.matchAll(/CONSTRAINT "([^"]+)" CHECK/g)].map((m) => m[1]).sort(),
      foreignKeys: foreignKeys.sort((a, b) => a.column.localeCompare(b.column)),
    };
  }
  return shape;
}

async function pgShape(): Promise<Shape> {
  const q = async <T extends object>(text: string, params: unknown[] = []) => (await pgDb.pool.query<T>(text, params)).rows;
  const tables = await q<{ name: string }>("SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1");
  const shape: Shape = {};
  for (const { name } of tables) {
    const columns = await q<{ name: string; nullable: string }>(
      "SELECT column_name AS name, is_nullable AS nullable FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1",
      [name],
    );
    const indexes = await q<{ name: string; columns: string[]; unique: boolean; partial: boolean; primary: boolean }>(
      `SELECT i.relname AS name, x.indisunique AS unique, x.indpred IS NOT NULL AS partial, x.indisprimary AS primary,
         array(SELECT a.attname::text FROM unnest(x.indkey) WITH ORDINALITY k(attnum, n)
               JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum ORDER BY k.n)::text[] AS columns
       FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
       WHERE x.indrelid = $1::regclass`,
      [`public.${name}`],
    );
    const checks = await q<{ name: string }>("SELECT conname AS name FROM pg_constraint WHERE conrelid = $1::regclass AND contype = 'c'", [`public.${name}`]);
    const foreignKeys = await q<ForeignKey>(
      `SELECT a.attname AS column, t.relname AS table, fa.attname AS to,
         CASE c.confdeltype WHEN 'a' THEN 'no action' WHEN 'r' THEN 'restrict' WHEN 'c' THEN 'cascade' WHEN 'n' THEN 'set null' ELSE 'set default' END AS "onDelete"
       FROM pg_constraint c
       JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
       JOIN pg_class t ON t.oid = c.confrelid
       JOIN pg_attribute fa ON fa.attrelid = c.confrelid AND fa.attnum = c.confkey[1]
       WHERE c.conrelid = $1::regclass AND c.contype = 'f'`,
      [`public.${name}`],
    );
    shape[name] = {
      columns: columns.map((c) => ({ name: c.name, notNull: c.nullable === "NO" })).sort(byName),
      primaryKey: indexes.find((ix) => ix.primary)?.columns ?? [],
      indexes: indexes
        .filter((ix) => !ix.primary)
        .map(({ name, columns, unique, partial }) => ({ name, columns, unique, partial }))
        .sort(byName),
      checks: checks.map((c) => c.name).sort(),
      foreignKeys: foreignKeys.map((fk) => ({ ...fk, onDelete: refusing(fk.onDelete) })).sort((a, b) => a.column.localeCompare(b.column)),
    };
  }
  return shape;
}

/** RESTRICT and NO ACTION both refuse deleting a row still referenced; they differ only for
 * deferred constraints, which neither dialect uses. One name for both, because SQLite's
 * transactions.api_key_id says NO ACTION: migration 0004 added the column with ALTER TABLE, which
 * drizzle-kit writes without the ON DELETE RESTRICT of db/schema.ts (SQLite cannot alter it later). */
function refusing(onDelete: string): string {
  return onDelete === "restrict" || onDelete === "no action" ? "refuses" : onDelete;
}

describe("SQLite and PostgreSQL schemas, both migrated from empty", () => {
  it("have the same tables, columns, keys, indexes (unique and partial ones too) and CHECK constraints", async () => {
    const sqlite = sqliteShape();
    const pg = await pgShape();
    expect(Object.keys(sqlite).length).toBeGreaterThan(15);
    expect(Object.keys(pg).sort()).toEqual(Object.keys(sqlite).sort());
    for (const table of Object.keys(sqlite)) expect({ table, ...pg[table] }).toEqual({ table, ...sqlite[table] });
    // The guarantees the money path leans on are among them, on both sides.
    expect(pg.transactions.indexes).toContainEqual({ name: "transactions_idempotency_key_unique", columns: ["idempotency_key"], unique: true, partial: false });
    expect(pg.auto_recharge_attempts.indexes).toContainEqual({ name: "auto_recharge_in_flight_idx", columns: ["user_id"], unique: true, partial: true });
    expect(pg.credit_grants.checks).toContain("credit_grants_remaining");
  });

  it("records its migration where drizzle's migrator looks, so a second run applies nothing", async () => {
    expect(await migratePgDatabase(pgDb)).toEqual([]);
  });
});

describe("the money path's guarantees, on PostgreSQL", () => {
  let userId: number;
  const q = (text: string, params: unknown[] = []) => pgDb.pool.query(text, params);
  const refusal = async (text: string, params: unknown[] = []) => {
    try {
      await q(text, params);
    } catch (error) {
      const e = error as { code?: string; constraint?: string };
      return { code: e.code, constraint: e.constraint };
    }
    throw new Error(`expected a refusal for: ${text}`);
  };
  const tx = (key: string, amount: number, extra = "") =>
    q(`INSERT INTO transactions (user_id, amount, type, status, idempotency_key, description, balance_after${extra ? ", expires_at" : ""})
       VALUES ($1, $2, ${amount < 0 ? "'usage', 'pending'" : "'purchase', 'posted'"}, $3, 'test', 0${extra ? ", $4" : ""}) RETURNING id`,
      extra ? [userId, amount, key, Date.now()] : [userId, amount, key]);

  beforeAll(async () => {
    const { rows } = await q("INSERT INTO users (email, password_hash) VALUES ('guarantees@example.com', 'x') RETURNING id, credits, created_at");
    userId = rows[0].id;
    // bigint columns come back as JS numbers (raw queries too), defaults are epoch milliseconds.
    expect(typeof rows[0].id).toBe("number");
    expect(rows[0].credits).toBe(0);
    expect(Math.abs(rows[0].created_at - Date.now())).toBeLessThan(60_000);
  });

  it("refuses a second ledger row with the same idempotency key", async () => {
    await tx("purchase:cs_1", 500);
    expect(await refusal("INSERT INTO transactions (user_id, amount, type, idempotency_key, description, balance_after) VALUES ($1, 500, 'purchase', 'purchase:cs_1', 'again', 500)", [userId]))
      .toEqual({ code: "23505", constraint: "transactions_idempotency_key_unique" });
  });

  it("refuses a grant left below zero (only the debt grant may be), and a second debt grant", async () => {
    expect(await refusal("INSERT INTO credit_grants (user_id, kind, amount, remaining) VALUES ($1, 'purchase', 10, -1)", [userId]))
      .toEqual({ code: "23514", constraint: "credit_grants_remaining" });
    await q("INSERT INTO credit_grants (user_id, kind, amount, remaining) VALUES ($1, 'debt', 0, -5)", [userId]);
    expect(await refusal("INSERT INTO credit_grants (user_id, kind, amount, remaining) VALUES ($1, 'debt', 0, -1)", [userId]))
      .toEqual({ code: "23505", constraint: "credit_grants_one_debt_idx" });
  });

  it("allows one auto-recharge in flight per user, and a new one once it settled", async () => {
    const claim = (status = "claimed") =>
      `INSERT INTO auto_recharge_attempts (user_id, pack_id, credits, amount, currency, payment_method_id, status, balance_at_claim, threshold_credits)
       VALUES ($1, 'default', 500, 1000, 'usd', 'pm_1', '${status}', 3, 10) RETURNING id`;
    const first = (await q(claim(), [userId])).rows[0].id;
    expect(await refusal(claim("sent"), [userId])).toEqual({ code: "23505", constraint: "auto_recharge_in_flight_idx" });
    await q(claim("failed"), [userId]); // settled attempts are history, any number of them
    await q("UPDATE auto_recharge_attempts SET status = 'succeeded' WHERE id = $1", [first]);
    await q(claim(), [userId]);
  });

  it("refuses a hold that is not a negative usage row, a draw of nothing, an upper-case address", async () => {
    expect(await refusal("INSERT INTO transactions (user_id, amount, type, status, idempotency_key, description, balance_after) VALUES ($1, 5, 'purchase', 'pending', 'k-hold', 'x', 0)", [userId]))
      .toEqual({ code: "23514", constraint: "transactions_hold_shape" });
    const hold = (await tx("usage:job-1", -5, "expires")).rows[0].id;
    const grant = (await q("INSERT INTO credit_grants (user_id, kind, amount, remaining) VALUES ($1, 'bonus', 10, 10) RETURNING id", [userId])).rows[0].id;
    expect(await refusal("INSERT INTO grant_draws (tx_id, grant_id, amount) VALUES ($1, $2, 0)", [hold, grant])).toEqual({ code: "23514", constraint: "grant_draws_positive" });
    expect(await refusal("INSERT INTO users (email, password_hash) VALUES ('Upper@Example.com', 'x')")).toEqual({ code: "23514", constraint: "users_email_lower" });
  });

  it("refuses deleting a user the ledger still names, and redeeming one code twice", async () => {
    expect((await refusal("DELETE FROM users WHERE id = $1", [userId])).code).toBe("23503");
    const code = (await q("INSERT INTO redeem_codes (code, credits, max_redemptions, created_by) VALUES ('SPRING', 10, 5, $1) RETURNING id", [userId])).rows[0].id;
    const row = (await tx("redeem:1", 10)).rows[0].id;
    await q("INSERT INTO redemptions (code_id, user_id, tx_id) VALUES ($1, $2, $3)", [code, userId, row]);
    expect(await refusal("INSERT INTO redemptions (code_id, user_id, tx_id) VALUES ($1, $2, $3)", [code, userId, row])).toEqual({ code: "23505", constraint: "redemptions_once_idx" });
    expect(await refusal("UPDATE redeem_codes SET redemption_count = 6 WHERE id = $1", [code])).toEqual({ code: "23514", constraint: "redeem_codes_count" });
  });

  it("reads through drizzle with the SQLite side's types: numbers, and booleans stored as 0/1", async () => {
    await pgDb.orm.insert(pgSchema.disputes).values({ id: "dp_1", userId, paymentIntentId: "pi_1", status: "needs_response" });
    const [dispute] = await pgDb.orm.select().from(pgSchema.disputes).where(eq(pgSchema.disputes.id, "dp_1"));
    expect(dispute.fundsWithdrawn).toBe(false);
    expect(typeof dispute.createdAt).toBe("number");
    await pgDb.orm.update(pgSchema.disputes).set({ fundsWithdrawn: true }).where(eq(pgSchema.disputes.id, "dp_1"));
    expect((await q("SELECT funds_withdrawn FROM disputes WHERE id = 'dp_1'")).rows[0].funds_withdrawn).toBe(1);
  });
});
