import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import type pg from "pg";
import type { NodePgDatabase } from "drizzle-orm/node-postgres";
import * as schema from "./schema.pg";

// node-postgres and drizzle's driver for it load on first use, not with the module: a server on
// SQLite never needs them, and they cost its start-up ~60 ms and ~15 MB (decision 039). A
// require() the bundler cannot see also keeps them out of the server build.
const requireOnDemand = createRequire(import.meta.url);
const pgModule = () => requireOnDemand("pg") as typeof import("pg");
type NodePg = typeof import("drizzle-orm/node-postgres");
type NodePgMigrator = typeof import("drizzle-orm/node-postgres/migrator");
function drizzleOf(client: pg.Pool | pg.PoolClient): PgOrm {
  return (requireOnDemand("drizzle-orm/node-postgres") as NodePg).drizzle(client, { schema });
}
const migrate = (...args: Parameters<NodePgMigrator["migrate"]>) => (requireOnDemand("drizzle-orm/node-postgres/migrator") as NodePgMigrator).migrate(...args);

/**
 * PostgreSQL, selected by DATABASE_URL (docs/decisions/034-postgresql-schema-and-migrations.md):
 * a node-postgres Pool and the drizzle view of it, over db/schema.pg.ts (generated from
 * db/schema.ts). The app's services do not run on it yet; db:migrate and the copy script do.
 */
export type PgOrm = NodePgDatabase<typeof schema>;
export type PgDb = { pool: pg.Pool; orm: PgOrm; url: string };

export const PG_MIGRATIONS_DIR = path.resolve(process.env.APP_ROOT ?? process.cwd(), "db/migrations-pg");

/** Where drizzle's node-postgres migrator records what it applied (its defaults, named once). */
const MIGRATIONS_TABLE = { migrationsSchema: "drizzle", migrationsTable: "__drizzle_migrations" } as const;

/** The URL with its password masked, for logs and error messages. */
export function redactDatabaseUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "(not a URL)";
  }
}

// int8 (bigint, count(*)) arrives as text from node-postgres, since a 64-bit integer may not fit
// a JS number. Every bigint of this schema holds ids, epoch milliseconds or credits, far below
// 2^53: answer numbers, and fail loudly on the day one does not fit rather than round it.
const INT8_OID = 20;
function parseInt8(text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new Error(`bigint ${text} does not fit a JavaScript number`);
  return n;
}
// numeric arrives as text too: it is what sum() of a bigint column answers (every ledger total).
// The same rule: a number when it is one exactly, an error rather than a silently rounded total.
const NUMERIC_OID = 1700;
function parseNumeric(text: string): number {
  const n = Number(text);
  if (!Number.isFinite(n) || (Number.isInteger(n) ? !Number.isSafeInteger(n) : String(n) !== text.replace(/0+$/, "").replace(/\.$/, ""))) {
    throw new Error(`numeric ${text} does not fit a JavaScript number exactly`);
  }
  return n;
}
const types = {
  getTypeParser: ((oid: number, format?: "text" | "binary") =>
    format === "binary"
      ? pgModule().types.getTypeParser(oid, format)
      : oid === INT8_OID
        ? parseInt8
        : oid === NUMERIC_OID
          ? parseNumeric
          : pgModule().types.getTypeParser(oid, format)) as pg.CustomTypesConfig["getTypeParser"],
};

/**
 * The pool settings for a DATABASE_URL as a provider gives it (Neon:
 * `?sslmode=require&channel_binding=require`). node-postgres 8 reads sslmode from the URL but
 * treats prefer/require/verify-ca as verify-full (certificate and host name checked) and warns
 * that version 9 will weaken them to libpq's meaning (require: encrypted, not verified). We pin
 * today's stricter meaning by asking for verify-full ourselves: the same behaviour, no warning,
 * and no silent downgrade on an upgrade. `uselibpqcompat=true` in the URL keeps libpq's meaning
 * for whoever asks for it. channel_binding (which node-postgres ignores in the URL) turns on
 * SCRAM-SHA-256-PLUS when the server offers it.
 */
export function pgPoolConfig(url: string, options: { max?: number } = {}): pg.PoolConfig {
  const u = new URL(url);
  if (!["postgres:", "postgresql:"].includes(u.protocol)) throw new Error(`not a postgres:// URL: ${redactDatabaseUrl(url)}`);
  const mode = u.searchParams.get("sslmode");
  if (mode && ["prefer", "require", "verify-ca"].includes(mode) && u.searchParams.get("uselibpqcompat") !== "true") {
    u.searchParams.set("sslmode", "verify-full");
  }
  const channelBinding = u.searchParams.get("channel_binding");
  u.searchParams.delete("channel_binding");
  return {
    connectionString: u.toString(),
    enableChannelBinding: channelBinding === "require" || channelBinding === "prefer",
    types,
    max: options.max ?? 10,
    connectionTimeoutMillis: 10_000,
    application_name: "credits-app",
  };
}

export function openPgDatabase(url: string, options: { max?: number } = {}): PgDb {
  const pool = new (pgModule().Pool)(pgPoolConfig(url, options));
  // An idle connection the server dropped is discarded by the pool; without a listener the
  // error would end the process.
  pool.on("error", (error) => console.error(`postgres: idle connection lost (${error.message}); the pool opens a new one`));
  return { pool, orm: drizzleOf(pool), url };
}

export async function closePgDatabase(db: PgDb): Promise<void> {
  await db.pool.end();
}

/** When each applied migration was generated (empty on a new database). */
async function appliedPgMigrations(client: pg.ClientBase): Promise<Set<number>> {
  const { rows } = await client.query<{ exists: boolean }>(
    "SELECT to_regclass($1) IS NOT NULL AS exists",
    [`${MIGRATIONS_TABLE.migrationsSchema}.${MIGRATIONS_TABLE.migrationsTable}`],
  );
  if (!rows[0].exists) return new Set();
  const applied = await client.query<{ at: string | number }>(
    `SELECT created_at AS at FROM ${MIGRATIONS_TABLE.migrationsSchema}.${MIGRATIONS_TABLE.migrationsTable}`,
  );
  return new Set(applied.rows.map((r) => Number(r.at)));
}

// Any fixed number: every process migrating this database takes the same advisory lock.
const MIGRATION_LOCK = 180_034;

/**
 * Applies pending migrations (each in the migrator's transaction) on one connection holding an
 * advisory lock, so two processes starting at once do not both apply the same migration.
 * Answers the tags of those it applied, like migrateDatabase for SQLite.
 */
export async function migratePgDatabase(db: PgDb, migrationsFolder = PG_MIGRATIONS_DIR): Promise<string[]> {
  const client = await db.pool.connect();
  try {
    await client.query("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK]);
    try {
      const before = await appliedPgMigrations(client);
      await migrate(drizzleOf(client), { migrationsFolder, ...MIGRATIONS_TABLE });
      const after = await appliedPgMigrations(client);
      const journal = JSON.parse(fs.readFileSync(path.join(migrationsFolder, "meta/_journal.json"), "utf8")) as {
        entries: Array<{ when: number; tag: string }>;
      };
      return journal.entries.filter((e) => after.has(e.when) && !before.has(e.when)).map((e) => e.tag);
    } finally {
      await client.query("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK]);
    }
  } finally {
    client.release();
  }
}
