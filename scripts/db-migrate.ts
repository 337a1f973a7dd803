/**
 * npm run db:migrate — applies the pending database migrations, says which, then exits. The server
 * applies them too when it starts; an operator runs this alone before a deploy to see a migration
 * succeed (or fail) before any traffic depends on it. Same code as the server start-up
 * (db/client.server.ts migrateDatabase) and the same location rules (env.server.ts), without
 * needing the server's secrets.
 *
 *   DATA_DIR=/data npm run db:migrate          → /data/app.sqlite
 *   DATABASE_PATH=/srv/app.sqlite npm run db:migrate
 *
 * Exit 0 when the database is up to date (whether or not anything was applied), 1 when a
 * migration failed, 2 on a bad configuration.
 */
import path from "node:path";
import { closeDatabase, migrateDatabase, openDatabase, type AppDb } from "../db/client.server";
import { ConfigError, parseDatabasePath } from "../app/services/env.server";

function main(): number {
  let file: string;
  try {
    file = path.resolve(parseDatabasePath(process.env));
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    for (const problem of error.problems) console.error(`db:migrate: ${problem}`);
    return 2;
  }
  let db: AppDb;
  try {
    db = openDatabase(file);
  } catch (error) {
    console.error(`db:migrate: cannot open the database at ${file} (DATABASE_PATH / DATA_DIR): ${message(error)}`);
    return 2;
  }
  try {
    const applied = migrateDatabase(db);
    console.log(`db:migrate ${file}`);
    console.log(applied.length ? applied.map((tag) => `  applied ${tag}`).join("\n") : "  up to date: nothing to apply");
    return 0;
  } catch (error) {
    console.error(`db:migrate: migrating ${file} failed (nothing of the failed migration was kept): ${message(error)}`);
    return 1;
  } finally {
    closeDatabase(db);
  }
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

process.exitCode = main();
