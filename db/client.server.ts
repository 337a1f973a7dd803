import fs from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import { drizzle, type BetterSQLite3Database } from "drizzle-orm/better-sqlite3";
import { migrate } from "drizzle-orm/better-sqlite3/migrator";
import * as schema from "./schema";
import { sqlitePragmas, sqliteSqlOn, type SqlDb, type SqliteSql } from "./sql.server";
export { PAGE_CACHE_KIB } from "./sql.server";

export type Orm = BetterSQLite3Database<typeof schema>;
/** One open database: the raw better-sqlite3 handle (for hot, hand-written statements and
 * BEGIN IMMEDIATE transactions), the drizzle view of the same connection, and the asynchronous
 * executor whose write bodies run on that connection too (db/sql.server.ts, decision 036: the
 * money path moves onto it). */
export type AppDb = { sqlite: Database.Database; orm: Orm; path: string; sql: SqliteSql };

/**
 * The part of the app's database that runs on both engines (decision 036): its executor, and
 * nothing engine-bound. A ported service takes this, so the type system shows what still reaches
 * for `sqlite`/`orm`; the SQLite `AppDb` and the PostgreSQL runtime database both satisfy it.
 */
export type PortableDb = { readonly sql: SqlDb };

export const MIGRATIONS_DIR = path.resolve(process.env.APP_ROOT ?? process.cwd(), "db/migrations");

/**
 * Opens (creating if needed) the SQLite file with the pragmas this app relies on.
 * synchronous=FULL: see docs/decisions/002-sqlite-durability.md — a committed purchase must
 * survive a power cut, and the cost (one extra fsync per commit) is small next to a Stripe call.
 */
export const DEFAULT_BUSY_TIMEOUT_MS = 5000;

export type OpenOptions = {
  readonly?: boolean;
  /** How long a statement waits for another connection's write lock before SQLITE_BUSY. Every
   * wait blocks this process' event loop (better-sqlite3 is synchronous), so it stays short. */
  busyTimeoutMs?: number;
};

export function openDatabase(file: string, options: OpenOptions = {}): AppDb {
  if (file !== ":memory:") fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const sqlite = sqlitePragmas(new Database(file, { readonly: options.readonly ?? false }), options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS);
  return { sqlite, orm: drizzle(sqlite, { schema }), path: file, sql: sqliteSqlOn(sqlite, file, { busyTimeoutMs: options.busyTimeoutMs }) };
}

/** When each applied migration was generated (drizzle's bookkeeping table; empty on a new file). */
function appliedMigrations(db: AppDb): Set<number> {
  const table = db.sqlite.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '__drizzle_migrations'").get();
  if (!table) return new Set();
  return new Set((db.sqlite.prepare("SELECT created_at AS at FROM __drizzle_migrations").all() as Array<{ at: number }>).map((r) => Number(r.at)));
}

/** Applies pending migrations; answers the tags of those it applied (none: already up to date). */
export function migrateDatabase(db: AppDb, migrationsFolder = MIGRATIONS_DIR): string[] {
  const before = appliedMigrations(db);
  migrate(db.orm, { migrationsFolder });
  const after = appliedMigrations(db);
  const journal = JSON.parse(fs.readFileSync(path.join(migrationsFolder, "meta/_journal.json"), "utf8")) as {
    entries: Array<{ when: number; tag: string }>;
  };
  return journal.entries.filter((e) => after.has(e.when) && !before.has(e.when)).map((e) => e.tag);
}

/** Opens and migrates: what the server, scripts and tests all do first. */
export function openMigratedDatabase(file: string, options: Omit<OpenOptions, "readonly"> = {}): AppDb {
  const db = openDatabase(file, options);
  migrateDatabase(db);
  return db;
}

export function closeDatabase(db: AppDb): void {
  db.sql.closeReader();
  if (!db.sqlite.open) return;
  if (!db.sqlite.readonly && db.path !== ":memory:") db.sqlite.pragma("wal_checkpoint(TRUNCATE)");
  db.sqlite.close();
}

/**
 * Whether an error is SQLite's "another connection holds the write lock" (SQLITE_BUSY and its
 * extended codes), raw from better-sqlite3 or wrapped by drizzle (DrizzleQueryError.cause).
 */
export function isDatabaseBusy(error: unknown): boolean {
  for (let e = error, depth = 0; e && typeof e === "object" && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && code.startsWith("SQLITE_BUSY")) return true;
  }
  return false;
}
