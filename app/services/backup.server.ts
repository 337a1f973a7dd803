/**
 * Online backups and restores of the SQLite file. Why this way: docs/decisions/009-backups.md.
 *
 * - backupDatabase: SQLite's online backup API (better-sqlite3 `db.backup`) while the app keeps
 *   serving. The copy is written next to its destination under a temporary name, switched to
 *   journal_mode=DELETE (one self-contained file), checked, fsynced and only then renamed into
 *   place: a file named app-….sqlite is always a complete, verified backup.
 * - The daily schedule (BACKUP_SCHEDULE) runs inside the app, through the app's own connection, and
 *   keeps the newest BACKUP_RETENTION backups. Each pass runs inside `db.sql.exclusive("backup", …)`
 *   (decision 036). The file copy is SQLite's alone: on PostgreSQL backups are pg_dump archives
 *   (npm run db:backup, db/pg-backup.server.ts), so the schedule does not start there.
 * - restoreDatabase: only with the app stopped (checked with an exclusive lock); the current file
 *   is kept aside as app.sqlite.pre-restore-<time>.
 */
import fs from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import type { ServerDb } from "../../db/server-db.server";
import type { Config } from "./env.server";
import { logger } from "./logger.server";
import { incrementCounter } from "./metrics.server";
import type { BackgroundTask } from "./runtime.server";

const BACKUP_NAME = /^app-\d{8}T\d{6}\.\d{3}Z\.sqlite$/;
/** Tables a database of this app has; a "backup" without them is not one. */
const REQUIRED_TABLES = ["users", "transactions", "sessions", "__drizzle_migrations"];

export type BackupCheck = {
  ok: boolean;
  problems: string[];
  users: number;
  transactions: number;
  migrations: number;
};

export type BackupResult = BackupCheck & { file: string; bytes: number; pages: number; ms: number };

export function backupDirFor(config: Pick<Config, "DATA_DIR" | "BACKUP_DIR">): string {
  return config.BACKUP_DIR ?? path.join(config.DATA_DIR, "backups");
}

/** app-20261125T033000.123Z.sqlite: sorts by time, safe on every file system. */
export function backupFileName(at = new Date()): string {
  return `app-${at.toISOString().replace(/[-:]/g, "")}.sqlite`;
}

function fsyncPath(file: string, flags = "r"): void {
  const fd = fs.openSync(file, flags);
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

function fsyncDir(dir: string): void {
  try {
    fsyncPath(dir);
  } catch {
    // Some file systems cannot fsync a directory; the rename is still atomic.
  }
}

/**
 * Checks a backup (or any database file of this app): SQLite's own integrity check, the tables
 * the app needs, and counts to show. `quick` uses quick_check (skips index/content cross-checks).
 */
export function checkDatabaseFile(file: string, options: { quick?: boolean } = {}): BackupCheck {
  const problems: string[] = [];
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
    const rows = db.pragma(options.quick ? "quick_check" : "integrity_check") as Array<Record<string, string>>;
    const messages = rows.map((r) => Object.values(r)[0]);
    if (!(messages.length === 1 && messages[0] === "ok")) problems.push(`integrity: ${messages.slice(0, 5).join("; ")}`);
    const tables = new Set(
      (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as Array<{ name: string }>).map((t) => t.name),
    );
    const missing = REQUIRED_TABLES.filter((t) => !tables.has(t));
    if (missing.length) problems.push(`missing tables: ${missing.join(", ")}`);
    const count = (table: string) =>
      tables.has(table) ? (db!.prepare(`SELECT count(*) AS n FROM "${table}"`).get() as { n: number }).n : 0;
    return { ok: problems.length === 0, problems, users: count("users"), transactions: count("transactions"), migrations: count("__drizzle_migrations") };
  } catch (error) {
    problems.push(`cannot read: ${error instanceof Error ? error.message : String(error)}`);
    return { ok: false, problems, users: 0, transactions: 0, migrations: 0 };
  } finally {
    db?.close();
  }
}

/**
 * Copies a live database to `destination` with the online backup API and verifies the copy.
 * `pagesPerStep`: pages copied between yields to the event loop. Inside the app a few hundred
 * keeps requests flowing, and writes through the same connection are carried into the copy. From
 * another process (npm run db:backup) use Infinity: one step is one read transaction, a consistent
 * snapshot that never restarts, and in WAL mode it does not block the app's writes.
 */
export async function backupDatabase(
  source: Database.Database,
  destination: string,
  options: { pagesPerStep?: number; quickCheck?: boolean } = {},
): Promise<BackupResult> {
  const started = performance.now();
  const target = path.resolve(destination);
  fs.mkdirSync(path.dirname(target), { recursive: true, mode: 0o700 });
  if (fs.existsSync(target)) throw new Error(`backup: ${target} exists already; choose another name`);
  const partial = `${target}.partial-${process.pid}`;
  const rate = Math.min(options.pagesPerStep ?? 256, 0x7fffffff);
  try {
    const { totalPages } = await source.backup(partial, { progress: () => rate });
    // One file that opens anywhere (read-only media, another machine): no -wal beside it.
    const copy = new Database(partial);
    try {
      copy.pragma("journal_mode = DELETE");
    } finally {
      copy.close();
    }
    fs.chmodSync(partial, 0o600); // password hashes and sessions are in there
    const check = checkDatabaseFile(partial, { quick: options.quickCheck });
    if (!check.ok) throw new Error(`backup: the copy failed its check: ${check.problems.join("; ")}`);
    fsyncPath(partial, "r+");
    fs.renameSync(partial, target);
    fsyncDir(path.dirname(target));
    incrementCounter("backups_total", { outcome: "ok" });
    return { ...check, file: target, bytes: fs.statSync(target).size, pages: totalPages, ms: Math.round(performance.now() - started) };
  } catch (error) {
    incrementCounter("backups_total", { outcome: "failed" });
    fs.rmSync(partial, { force: true });
    fs.rmSync(`${partial}-journal`, { force: true });
    throw error;
  }
}

/** Keeps the newest `keep` backups (by name: app-<UTC time>.sqlite) in `dir`; returns what it removed. */
export function pruneBackups(dir: string, keep: number): string[] {
  if (!fs.existsSync(dir)) return [];
  const backups = fs
    .readdirSync(dir)
    .filter((f) => BACKUP_NAME.test(f))
    .sort()
    .reverse();
  const removed = backups.slice(Math.max(keep, 1)).map((f) => path.join(dir, f));
  for (const file of removed) fs.rmSync(file, { force: true });
  return removed;
}

export function listBackups(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => BACKUP_NAME.test(f))
    .sort()
    .map((f) => path.join(dir, f));
}

/** The next time of day `schedule` ("daily" = 03:00, or "HH:MM", UTC) strictly after `now`. */
export function nextBackupAt(schedule: string, now: Date): Date {
  const [h, m] = (schedule === "daily" ? "03:00" : schedule).split(":").map(Number);
  const next = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate(), h, m, 0, 0));
  if (next.getTime() <= now.getTime()) next.setUTCDate(next.getUTCDate() + 1);
  return next;
}

/**
 * The daily backup inside the app (BACKUP_SCHEDULE). A failure is logged and counted, and the next
 * day's run happens anyway. Stopping waits for a backup in progress to finish.
 */
export function startBackupSchedule(
  db: Pick<ServerDb, "sql" | "file">,
  options: { schedule: string; retention: number; dir: string; now?: () => Date },
): BackgroundTask | undefined {
  if (options.schedule === "off") return undefined;
  // The engine-bound part: SQLite's online backup API needs the app's own SQLite connection,
  // which the server's database carries as `file` (null on PostgreSQL).
  const sqlite = db.file?.sqlite;
  if (!sqlite) {
    logger.warn(
      { schedule: options.schedule },
      "BACKUP_SCHEDULE copies a SQLite file; on PostgreSQL make backups with npm run db:backup (pg_dump) instead: no scheduled backup in the app",
    );
    return undefined;
  }
  const now = options.now ?? (() => new Date());
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;

  const copy = async () => {
    const file = path.join(options.dir, backupFileName(now()));
    try {
      const result = await backupDatabase(sqlite, file, { pagesPerStep: 256, quickCheck: true });
      const removed = pruneBackups(options.dir, options.retention);
      logger.info(
        { file, bytes: result.bytes, ms: result.ms, users: result.users, transactions: result.transactions, pruned: removed.length },
        "scheduled backup written",
      );
    } catch (error) {
      logger.error({ err: error, file }, "scheduled backup failed");
    }
  };
  // One pass at a time: a pass that finds another holding "backup" leaves the copy to it.
  const run = async () => {
    if (!(await db.sql.exclusive("backup", copy))) logger.warn({ dir: options.dir }, "scheduled backup skipped: another backup pass is running");
  };

  const schedule = () => {
    if (stopped) return;
    const at = nextBackupAt(options.schedule, now());
    timer = setTimeout(
      () => {
        running = run().finally(() => {
          running = undefined;
          schedule();
        });
      },
      Math.max(0, at.getTime() - now().getTime()),
    );
    timer.unref();
  };

  schedule();
  logger.info({ schedule: options.schedule, retention: options.retention, dir: options.dir }, "daily backups scheduled (UTC)");
  return {
    name: "backup-schedule",
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}

/**
 * True when another connection (a running app) has the database open. In WAL mode every open
 * connection holds a shared lock on the -shm file, so an exclusive lock is refused.
 */
export function databaseInUse(file: string): boolean {
  if (!fs.existsSync(file)) return false;
  const db = new Database(file, { timeout: 0 });
  try {
    db.pragma("locking_mode = EXCLUSIVE");
    db.exec("BEGIN EXCLUSIVE; COMMIT;");
    return false;
  } catch (error) {
    if ((error as { code?: string }).code === "SQLITE_BUSY") return true;
    throw error;
  } finally {
    db.close();
  }
}

export type RestoreResult = { restored: string; from: string; previous: string | null; check: BackupCheck };

/**
 * Replaces the database at `target` with the backup `from`. Refuses when the backup fails its check
 * or when the app has the database open. The current database (its WAL checkpointed first) is kept
 * as <target>.pre-restore-<UTC time>; the restored file is fsynced and renamed into place.
 */
export function restoreDatabase(from: string, target: string, at = new Date()): RestoreResult {
  const source = path.resolve(from);
  const dest = path.resolve(target);
  if (!fs.existsSync(source)) throw new Error(`restore: no backup at ${source}`);
  if (source === dest) throw new Error("restore: the backup and the database are the same file");
  const check = checkDatabaseFile(source);
  if (!check.ok) throw new Error(`restore: ${source} is not a usable backup: ${check.problems.join("; ")}`);
  fs.mkdirSync(path.dirname(dest), { recursive: true });

  let previous: string | null = null;
  if (fs.existsSync(dest)) {
    if (databaseInUse(dest)) {
      throw new Error(
        `restore: ${dest} is in use (is the app running?). Stop the app first, or copy the backup to ` +
          `${path.join(path.dirname(dest), "restore.sqlite")} and restart: the container restores it at start.`,
      );
    }
    // Fold the WAL into the main file so the kept copy is complete on its own.
    const current = new Database(dest, { timeout: 5000 });
    try {
      current.pragma("wal_checkpoint(TRUNCATE)");
      current.pragma("journal_mode = DELETE");
    } finally {
      current.close();
    }
    previous = `${dest}.pre-restore-${at.toISOString().replace(/[-:]/g, "")}`;
    fs.renameSync(dest, previous);
  }
  for (const suffix of ["-wal", "-shm", "-journal"]) fs.rmSync(`${dest}${suffix}`, { force: true });

  const incoming = `${dest}.restoring-${process.pid}`;
  fs.copyFileSync(source, incoming);
  fs.chmodSync(incoming, 0o600);
  fsyncPath(incoming, "r+");
  fs.renameSync(incoming, dest);
  fsyncDir(path.dirname(dest));
  return { restored: dest, from: source, previous, check };
}
