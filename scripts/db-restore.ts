/**
 * npm run db:restore — puts a backup back in place of the database. The app must be stopped.
 *
 *   npm run db:restore -- /data/backups/app-20261125T030000.000Z.sqlite
 *   npm run db:restore -- --pending       restores $DATA_DIR/restore.sqlite if it exists (the
 *                                         container's start command runs this before the app, so on
 *                                         Fly.io: copy a backup there and restart the machine)
 *
 * With DATABASE_URL (PostgreSQL): `npm run db:restore -- <backup.dump>` restores a db:backup archive
 * with pg_restore --clean --if-exists --single-transaction (all or nothing), after checking it with
 * pg_restore --list and refusing while any other client is connected (every app instance must be
 * stopped); the current database is kept first as $BACKUP_DIR/pre-restore-<UTC time>.dump.
 * `--pending` is for the SQLite file only: with DATABASE_URL it restores nothing (several instances
 * start at once; a restore is the operator's, done once), and refuses if a restore.sqlite waits.
 *
 * Reads DATABASE_PATH or DATA_DIR like the app. The backup is checked first (integrity_check, the
 * app's tables); a running app is detected (the database is locked) and refused; the current file
 * is kept as app.sqlite.pre-restore-<UTC time>. Then start the app (it applies newer migrations)
 * and run `npm run ledger:verify`. Exit 0 restored (or nothing pending), 1 refused or failed,
 * 2 usage error.
 */
import fs from "node:fs";
import path from "node:path";
import { restoreDatabase } from "../app/services/backup.server";
import { backupDirFor } from "../app/services/backup.server";
import { databaseTargetFor } from "./database-target";

function env(name: string): string | undefined {
  const v = process.env[name]?.trim();
  return v ? v : undefined;
}

async function main(): Promise<number> {
  const args = process.argv.slice(2).filter((a) => a !== "--");
  if (args.length !== 1 || args[0] === "-h" || args[0] === "--help") {
    console.log("usage: npm run db:restore -- <backup.sqlite> | --pending   (with DATABASE_URL: <backup.dump>)");
    return args[0] === "-h" || args[0] === "--help" ? 0 : 2;
  }
  const databaseTarget = databaseTargetFor("db:restore");
  if (!databaseTarget) return 2;
  const dataDir = env("DATA_DIR") ?? "./data";
  if (databaseTarget.dialect === "postgres") return restorePostgresFrom(databaseTarget.url, args[0]!, dataDir);
  const target = path.resolve(env("DATABASE_PATH") ?? path.join(dataDir, "app.sqlite"));
  const pending = args[0] === "--pending";
  const from = pending ? path.resolve(dataDir, "restore.sqlite") : path.resolve(args[0]!);
  if (pending && !fs.existsSync(from)) return 0; // nothing to restore: the usual start

  try {
    const result = restoreDatabase(from, target);
    console.log(`db:restore ${result.from} -> ${result.restored}`);
    console.log(`  integrity ok; ${result.check.users} users, ${result.check.transactions} transactions, ${result.check.migrations} migrations`);
    console.log(result.previous ? `  the previous database is kept as ${result.previous}` : "  (there was no database before)");
    if (pending) {
      fs.rmSync(from);
      console.log(`  removed ${from} (restored)`);
    }
    console.log("  next: start the app (it applies newer migrations), then run `npm run ledger:verify`");
    return 0;
  } catch (error) {
    console.error(`db:restore refused: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}

async function restorePostgresFrom(url: string, arg: string, dataDir: string): Promise<number> {
  if (arg === "--pending") {
    if (!fs.existsSync(path.resolve(dataDir, "restore.sqlite"))) return 0;
    console.error(
      `db:restore refused: ${path.resolve(dataDir, "restore.sqlite")} waits to be restored, but DATABASE_URL is set: a SQLite backup goes into PostgreSQL with npm run db:copy-to-postgres (README, Scaling out); remove the file to start`,
    );
    return 2;
  }
  // Loaded only here: an operator on SQLite never needs node-postgres.
  const { restorePostgres, PgBackupError } = await import("../db/pg-backup.server");
  try {
    const result = await restorePostgres(url, path.resolve(arg), backupDirFor({ DATA_DIR: dataDir, BACKUP_DIR: env("BACKUP_DIR") }));
    console.log(`db:restore ${result.from} -> ${result.shown}`);
    console.log(`  pg_restore --clean --single-transaction: ${result.tables} tables, in ${result.ms} ms`);
    console.log(`  the previous database is kept as ${result.previous}`);
    console.log("  next: start the app (it applies newer migrations), then run `npm run ledger:verify`");
    return 0;
  } catch (error) {
    console.error(`db:restore refused: ${error instanceof Error ? error.message : String(error)}`);
    return error instanceof PgBackupError && error.configuration ? 2 : 1;
  }
}

process.exitCode = await main();
