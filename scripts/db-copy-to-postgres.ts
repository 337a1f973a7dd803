/**
 * npm run db:copy-to-postgres — moves an existing SQLite database to PostgreSQL (decision 034):
 * every row of every table, in one transaction, verified (row counts; per user, credits == the
 * sum of the counting ledger rows) before it commits. The target must be an empty database that
 * `npm run db:migrate` has migrated; the source must be fully migrated too. Stop the app first
 * (or let it run: the copy reads one consistent snapshot, but rows written after it are not copied).
 *
 *   DATA_DIR=/data DATABASE_URL=postgres://… npm run db:copy-to-postgres
 *   DATABASE_PATH=/srv/app.sqlite DATABASE_URL=postgres://… npm run db:copy-to-postgres
 *
 * Exit 0 when copied and verified; 1 when the copy failed or did not verify (rolled back: the
 * target is as it was); 2 when nothing was tried (a bad configuration, a missing or unmigrated
 * database, an unreachable or non-empty target).
 */
import fs from "node:fs";
import path from "node:path";
import { closeDatabase, MIGRATIONS_DIR, openDatabase, type AppDb } from "../db/client.server";
import { closePgDatabase, openPgDatabase, PG_MIGRATIONS_DIR, redactDatabaseUrl, type PgDb } from "../db/pg-client.server";
import { copySqliteToPostgres, DERIVED_TABLES } from "../db/sqlite-to-postgres.server";
import { ConfigError, parseDatabasePath, parseDatabaseTarget } from "../app/services/env.server";

const say = (line: string) => console.error(`db:copy-to-postgres: ${line}`);

function message(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.replace(/\s+/g, " ").trim() || String(error);
}

function journalCount(folder: string): number {
  return (JSON.parse(fs.readFileSync(path.join(folder, "meta/_journal.json"), "utf8")) as { entries: unknown[] }).entries.length;
}

function sqliteMigrations(db: AppDb): number {
  const table = db.sqlite.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '__drizzle_migrations'").get();
  return table ? db.sqlite.prepare<[], { n: number }>("SELECT count(*) AS n FROM __drizzle_migrations").get()!.n : 0;
}

async function pgMigrations(db: PgDb): Promise<number> {
  const { rows } = await db.pool.query<{ present: boolean }>("SELECT to_regclass('drizzle.__drizzle_migrations') IS NOT NULL AS present");
  if (!rows[0].present) return 0;
  return Number((await db.pool.query<{ n: number }>("SELECT count(*) AS n FROM drizzle.__drizzle_migrations")).rows[0].n);
}

async function main(): Promise<number> {
  let file: string;
  let url: string;
  try {
    file = path.resolve(parseDatabasePath(process.env));
    const target = parseDatabaseTarget(process.env);
    if (target.dialect !== "postgres") {
      say("DATABASE_URL is required: the PostgreSQL database to copy into (postgres://user:password@host:5432/credits)");
      return 2;
    }
    url = target.url;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    for (const problem of error.problems) say(problem);
    return 2;
  }
  const shown = redactDatabaseUrl(url);
  if (!fs.existsSync(file)) {
    say(`no SQLite database at ${file} (set DATABASE_PATH or DATA_DIR)`);
    return 2;
  }
  let source: AppDb;
  try {
    source = openDatabase(file, { readonly: true });
    if (sqliteMigrations(source) !== journalCount(MIGRATIONS_DIR)) {
      closeDatabase(source);
      say(`${file} is not fully migrated: run npm run db:migrate on it first (with DATABASE_URL unset)`);
      return 2;
    }
  } catch (error) {
    say(`cannot open the SQLite database at ${file}: ${message(error)}`);
    return 2;
  }
  const target = openPgDatabase(url, { max: 1 });
  try {
    try {
      if ((await pgMigrations(target)) !== journalCount(PG_MIGRATIONS_DIR)) {
        say(`${shown} is not migrated: run DATABASE_URL=… npm run db:migrate first`);
        return 2;
      }
    } catch (error) {
      say(`cannot reach the database at ${shown} (DATABASE_URL): ${message(error)}`);
      return 2;
    }
    console.log(`db:copy-to-postgres ${file} → ${shown}`);
    const client = await target.pool.connect();
    try {
      const result = await copySqliteToPostgres(source.sqlite, client, {
        onTable: (name, rows) => console.log(`  ${name.padEnd(24)} ${String(rows).padStart(9)} rows`),
      });
      if (!result.ok) {
        say(result.reason === "mismatch" ? `the copy did not verify, nothing was kept: ${result.message}` : `${result.message}; nothing was copied`);
        return result.reason === "mismatch" ? 1 : 2;
      }
      const total = result.tables.reduce((sum, t) => sum + t.rows, 0);
      console.log(`  sequences moved past SQLite's ids: ${result.sequences.length}`);
      console.log(`  verified: every table's row count, and for each of ${result.users} users credits == the sum of its counting ledger rows`);
      console.log(`  rebuilt by PostgreSQL's triggers and checked against SQLite's: ${Object.keys(DERIVED_TABLES).join(", ")}`);
      console.log(`  OK: ${total} rows copied in ${result.ms} ms`);
      return 0;
    } catch (error) {
      say(`copying failed, nothing was kept: ${message(error)}`);
      return 1;
    } finally {
      client.release();
    }
  } finally {
    closeDatabase(source);
    await closePgDatabase(target);
  }
}

process.exitCode = await main();
