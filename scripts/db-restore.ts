/**
 * npm run db:restore — puts a backup back in place of the database. The app must be stopped.
 *
 *   npm run db:restore -- /data/backups/app-20261125T030000.000Z.sqlite
 *   npm run db:restore -- --pending       restores $DATA_DIR/restore.sqlite if it exists (the
 *                                         container's start command runs this before the app, so on
 *                                         Fly.io: copy a backup there and restart the machine)
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
import { refusedOnPostgres } from "./sqlite-only";

function env(name: string): string | undefined {
  const v = process.env[name]?.trim();
  return v ? v : undefined;
}

function main(): number {
  if (refusedOnPostgres("db:restore", "restore PostgreSQL with pg_restore (README, Scaling out)")) return 2;
  const args = process.argv.slice(2).filter((a) => a !== "--");
  if (args.length !== 1 || args[0] === "-h" || args[0] === "--help") {
    console.log("usage: npm run db:restore -- <backup.sqlite> | --pending");
    return args[0] === "-h" || args[0] === "--help" ? 0 : 2;
  }
  const dataDir = env("DATA_DIR") ?? "./data";
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

process.exitCode = main();
