/**
 * npm run db:migrate — applies the pending database migrations, says which, then exits. The server
 * applies them too when it starts; an operator runs this alone before a deploy to see a migration
 * succeed (or fail) before any traffic depends on it. Same code as the server start-up
 * (db/client.server.ts migrateDatabase) and the same location rules (env.server.ts), without
 * needing the server's secrets.
 *
 *   DATA_DIR=/data npm run db:migrate          → /data/app.sqlite
 *   DATABASE_PATH=/srv/app.sqlite npm run db:migrate
 *   DATABASE_URL=postgres://… npm run db:migrate   → PostgreSQL (db/migrations-pg, decision 034)
 *
 * Exit 0 when the database is up to date (whether or not anything was applied), 1 when a
 * migration failed, 2 on a bad configuration (or a database it cannot open or reach).
 */
import path from "node:path";
import { closeDatabase, migrateDatabase, openDatabase, type AppDb } from "../db/client.server";
import { databaseTargetFor } from "./database-target";

function migrateSqlite(file: string): number {
  let db: AppDb;
  try {
    db = openDatabase(file);
  } catch (error) {
    console.error(`db:migrate: cannot open the database at ${file} (DATABASE_PATH / DATA_DIR): ${message(error)}`);
    return 2;
  }
  try {
    report(file, migrateDatabase(db));
    return 0;
  } catch (error) {
    console.error(`db:migrate: migrating ${file} failed (nothing of the failed migration was kept): ${message(error)}`);
    return 1;
  } finally {
    closeDatabase(db);
  }
}

async function migratePostgres(url: string): Promise<number> {
  // Loaded only here: an operator on SQLite never needs node-postgres.
  const { closePgDatabase, migratePgDatabase, openPgDatabase, redactDatabaseUrl } = await import("../db/pg-client.server");
  const shown = redactDatabaseUrl(url);
  const db = openPgDatabase(url, { max: 1 });
  try {
    try {
      await db.pool.query("SELECT 1");
    } catch (error) {
      console.error(`db:migrate: cannot reach the database at ${shown} (DATABASE_URL): ${message(error)}`);
      return 2;
    }
    try {
      report(shown, await migratePgDatabase(db));
      return 0;
    } catch (error) {
      console.error(`db:migrate: migrating ${shown} failed (nothing of the failed migration was kept): ${message(error)}`);
      return 1;
    }
  } finally {
    await closePgDatabase(db);
  }
}

function report(where: string, applied: string[]): void {
  console.log(`db:migrate ${where}`);
  console.log(applied.length ? applied.map((tag) => `  applied ${tag}`).join("\n") : "  up to date: nothing to apply");
}

function message(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.replace(/\s+/g, " ").trim() || String(error);
}

async function main(): Promise<number> {
  const target = databaseTargetFor("db:migrate");
  if (!target) return 2;
  return target.dialect === "postgres" ? migratePostgres(target.url) : migrateSqlite(path.resolve(target.path));
}

process.exitCode = await main();
