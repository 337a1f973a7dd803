/**
 * npm run db:backup — a consistent online copy of the database while the app keeps serving.
 *
 *   npm run db:backup                     → $BACKUP_DIR/app-<UTC time>.sqlite (default $DATA_DIR/backups),
 *                                           then keeps the newest BACKUP_RETENTION (default 7) there
 *   npm run db:backup -- /elsewhere/x.sqlite   → exactly that file (no pruning)
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
import { refusedOnPostgres } from "./sqlite-only";

function env(name: string): string | undefined {
  const v = process.env[name]?.trim();
  return v ? v : undefined;
}

async function main(): Promise<number> {
  if (refusedOnPostgres("db:backup", "back PostgreSQL up with pg_dump (README, Scaling out)")) return 2;
  const args = process.argv.slice(2).filter((a) => a !== "--");
  if (args.some((a) => a === "-h" || a === "--help") || args.length > 1) {
    console.log("usage: npm run db:backup [-- <destination.sqlite>]");
    return args.length > 1 ? 2 : 0;
  }
  const dataDir = env("DATA_DIR") ?? "./data";
  const file = path.resolve(env("DATABASE_PATH") ?? path.join(dataDir, "app.sqlite"));
  if (!fs.existsSync(file)) {
    console.error(`db:backup: no database at ${file} (set DATABASE_PATH or DATA_DIR)`);
    return 2;
  }
  const retention = Number(env("BACKUP_RETENTION") ?? 7);
  if (!Number.isInteger(retention) || retention < 1) {
    console.error(`db:backup: BACKUP_RETENTION must be a whole number >= 1, got ${env("BACKUP_RETENTION")}`);
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

process.exitCode = await main();
