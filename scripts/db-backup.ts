/**
 * npm run db:backup — a consistent online copy of the database while the app keeps serving.
 *
 *   npm run db:backup                     → $BACKUP_DIR/app-<UTC time>.sqlite (default $DATA_DIR/backups),
 *                                           then keeps the newest BACKUP_RETENTION (default 7) there
 *   npm run db:backup -- /elsewhere/x.sqlite   → exactly that file (no pruning)
 *
 * With DATABASE_URL (PostgreSQL): pg_dump --format=custom into $BACKUP_DIR/app-<UTC time>.dump (or
 * the destination given), checked with pg_restore --list, same retention (db/pg-backup.server.ts).
 *
 * Reads DATABASE_PATH or DATA_DIR like the app. The copy is one read transaction of SQLite's
 * backup API (a snapshot; WAL lets the app write meanwhile), made self-contained (no -wal), checked
 * with integrity_check, fsynced, then renamed into place. Exit 0 with a verified file, 1 if the
 * copy failed its check, 2 on a usage error.
 */
import fs from "node:fs";
import path from "node:path";
import { closeDatabase, openDatabase } from "../db/client.server";
import { backupDatabase, backupDirFor, backupFileName, pruneBackups } from "../app/services/backup.server";
import { databaseTargetFor } from "./database-target";

function env(name: string): string | undefined {
  const v = process.env[name]?.trim();
  return v ? v : undefined;
}

async function main(): Promise<number> {
  const args = process.argv.slice(2).filter((a) => a !== "--");
  if (args.some((a) => a === "-h" || a === "--help") || args.length > 1) {
    console.log("usage: npm run db:backup [-- <destination.sqlite | destination.dump>]");
    return args.length > 1 ? 2 : 0;
  }
  const target = databaseTargetFor("db:backup");
  if (!target) return 2;
  const dataDir = env("DATA_DIR") ?? "./data";
  const retention = Number(env("BACKUP_RETENTION") ?? 7);
  if (!Number.isInteger(retention) || retention < 1) {
    console.error(`db:backup: BACKUP_RETENTION must be a whole number >= 1, got ${env("BACKUP_RETENTION")}`);
    return 2;
  }
  if (target.dialect === "postgres") return backupPostgres(target.url, args[0], backupDirFor({ DATA_DIR: dataDir, BACKUP_DIR: env("BACKUP_DIR") }), retention);
  const file = path.resolve(env("DATABASE_PATH") ?? path.join(dataDir, "app.sqlite"));
  if (!fs.existsSync(file)) {
    console.error(`db:backup: no database at ${file} (set DATABASE_PATH or DATA_DIR)`);
    return 2;
  }
  const dir = backupDirFor({ DATA_DIR: dataDir, BACKUP_DIR: env("BACKUP_DIR") });
  const destination = args[0] ? path.resolve(args[0]) : path.join(dir, backupFileName());

  const db = openDatabase(file, { readonly: true });
  try {
    const result = await backupDatabase(db.sqlite, destination, { pagesPerStep: Infinity });
    console.log(`db:backup ${file} -> ${result.file}`);
    console.log(
      `  ${(result.bytes / 1024 / 1024).toFixed(2)} MB, ${result.pages} pages in ${result.ms} ms; integrity ok; ` +
        `${result.users} users, ${result.transactions} transactions, ${result.migrations} migrations`,
    );
    if (!args[0]) {
      const removed = pruneBackups(dir, retention);
      if (removed.length) console.log(`  kept the newest ${retention}; removed ${removed.map((f) => path.basename(f)).join(", ")}`);
    }
    return 0;
  } catch (error) {
    console.error(`db:backup failed: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  } finally {
    closeDatabase(db);
  }
}

async function backupPostgres(url: string, explicit: string | undefined, dir: string, retention: number): Promise<number> {
  // Loaded only here: an operator on SQLite never needs node-postgres.
  const { dumpPostgres, pgBackupFileName, prunePgBackups, PgBackupError } = await import("../db/pg-backup.server");
  const destination = explicit ? path.resolve(explicit) : path.join(dir, pgBackupFileName());
  try {
    const result = await dumpPostgres(url, destination);
    console.log(`db:backup ${result.shown} -> ${result.file}`);
    console.log(`  ${(result.bytes / 1024 / 1024).toFixed(2)} MB in ${result.ms} ms; pg_dump custom format, ${result.tables} tables, archive checked`);
    if (!explicit) {
      const removed = prunePgBackups(dir, retention);
      if (removed.length) console.log(`  kept the newest ${retention}; removed ${removed.map((f) => path.basename(f)).join(", ")}`);
    }
    return 0;
  } catch (error) {
    console.error(`db:backup failed: ${error instanceof Error ? error.message : String(error)}`);
    return error instanceof PgBackupError && error.configuration ? 2 : 1;
  }
}

process.exitCode = await main();
