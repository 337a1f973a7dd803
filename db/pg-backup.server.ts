/**
 * Backups of the PostgreSQL database with PostgreSQL's own tools (decision 040): `pg_dump
 * --format=custom` (one consistent snapshot, taken while the app serves) and `pg_restore --clean
 * --if-exists --single-transaction` (all of it or nothing). `npm run db:backup` / `db:restore`
 * call these when DATABASE_URL is set; the SQLite file keeps its own (app/services/backup.server.ts).
 *
 * The tools get the connection from libpq: the URL without its password on the command line
 * (`--dbname`), the password in PGPASSWORD, so it never shows in a process listing or a log.
 * TLS is held to what the app holds it to (decision 034): `sslmode=require` means verify-full.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { closePgDatabase, openPgDatabase, redactDatabaseUrl } from "./pg-client.server";

/** `configuration`: nothing was tried (a missing tool, an unusable DATABASE_URL): exit 2, not 1. */
export class PgBackupError extends Error {
  constructor(message: string, readonly configuration = false) {
    super(message);
  }
}

const INSTALL_HINT = "install PostgreSQL's client tools (Debian: apt-get install postgresql-client) or set PG_BIN to the folder holding them";

/** pg_dump / pg_restore: PG_BIN, else Debian's newest /usr/lib/postgresql/N/bin, else PATH. */
export function pgTool(name: "pg_dump" | "pg_restore", env: Record<string, string | undefined> = process.env): string {
  const debian = fs.existsSync("/usr/lib/postgresql")
    ? fs
        .readdirSync("/usr/lib/postgresql")
        .filter((v) => /^\d+$/.test(v))
        .sort((a, b) => Number(b) - Number(a))
        .map((v) => `/usr/lib/postgresql/${v}/bin`)
    : [];
  const dirs = env.PG_BIN?.trim() ? [env.PG_BIN.trim()] : [...debian, ...(env.PATH ?? "").split(path.delimiter).filter(Boolean)];
  for (const dir of dirs) {
    const file = path.join(dir, name);
    try {
      fs.accessSync(file, fs.constants.X_OK);
      return file;
    } catch {
      // next folder
    }
  }
  throw new PgBackupError(`${name} not found in ${env.PG_BIN?.trim() ? `PG_BIN (${env.PG_BIN.trim()})` : "/usr/lib/postgresql/*/bin or PATH"}: ${INSTALL_HINT}`, true);
}

/** The major version of a tool (`pg_dump (PostgreSQL) 15.18 …` → 15). */
export async function toolMajorVersion(tool: string): Promise<number> {
  const { code, out, err } = await run(tool, ["--version"], {});
  const m = /\(PostgreSQL\)\s+(\d+)/.exec(out);
  if (code !== 0 || !m) throw new PgBackupError(`${tool} --version did not answer a PostgreSQL version: ${(err || out).trim()}`);
  return Number(m[1]);
}

export type LibpqConnection = { dbname: string; env: Record<string, string>; shown: string };

const CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt";

/**
 * DATABASE_URL as libpq takes it: the URL without the password (→ PGPASSWORD), `sslmode=require`
 * (and prefer, verify-ca) held to verify-full as node-postgres does for the app, with the system's
 * CAs when no sslrootcert is named (libpq 16 knows `system`; older ones get Debian's bundle), and
 * the app's own parameters that libpq would refuse (`uselibpqcompat`) dropped.
 */
export function libpqConnection(url: string, options: { libpqMajor: number; caBundleExists?: boolean }): LibpqConnection {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new PgBackupError("DATABASE_URL is not a URL (postgres://user:password@host:5432/database)", true);
  }
  const shown = redactDatabaseUrl(url);
  if (!["postgres:", "postgresql:"].includes(u.protocol)) throw new PgBackupError(`DATABASE_URL must be a postgres:// URL, got ${shown}`, true);
  if (!u.hostname && !u.searchParams.has("host")) throw new PgBackupError(`DATABASE_URL names no host: ${shown}`, true);
  const database = decodeURIComponent(u.pathname.replace(/^\//, ""));
  if (!database || database.includes("/")) throw new PgBackupError(`DATABASE_URL names no database (…:5432/<database>): ${shown}`, true);

  const env: Record<string, string> = {};
  if (u.password) env.PGPASSWORD = decodeURIComponent(u.password);
  u.password = "";
  const libpqCompat = u.searchParams.get("uselibpqcompat") === "true";
  u.searchParams.delete("uselibpqcompat");
  const mode = u.searchParams.get("sslmode");
  if (mode && ["prefer", "require", "verify-ca"].includes(mode) && !libpqCompat) u.searchParams.set("sslmode", "verify-full");
  if (u.searchParams.get("sslmode") === "verify-full" && !u.searchParams.get("sslrootcert")) {
    if (options.libpqMajor >= 16) u.searchParams.set("sslrootcert", "system");
    else if (options.caBundleExists ?? fs.existsSync(CA_BUNDLE)) u.searchParams.set("sslrootcert", CA_BUNDLE);
    else throw new PgBackupError(`the certificate of ${u.hostname} cannot be checked: add sslrootcert=/path/ca.pem to DATABASE_URL (client tools ${options.libpqMajor} do not know the system's CAs)`, true);
  }
  return { dbname: u.toString(), env, shown };
}

type RunResult = { code: number | null; out: string; err: string };

function run(tool: string, args: string[], env: Record<string, string>, secret?: string): Promise<RunResult> {
  return new Promise((resolve) => {
    // PGAPPNAME names the tools' session, so a restore's check for other clients can tell them apart.
    const child = spawn(tool, args, { env: { ...process.env, PGAPPNAME: "credits-backup", ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    const hide = (text: string) => (secret ? text.split(secret).join("***") : text);
    child.on("error", (error) => resolve({ code: null, out, err: hide(`${err}${error.message}`) }));
    child.on("close", (code) => resolve({ code, out: hide(out), err: hide(err) }));
  });
}

async function connectionFor(url: string, tool: string): Promise<LibpqConnection> {
  return libpqConnection(url, { libpqMajor: await toolMajorVersion(tool) });
}

/** app-20261125T033000.123Z.dump: sorts by time like the SQLite backups beside it. */
export function pgBackupFileName(at = new Date(), prefix = "app"): string {
  return `${prefix}-${at.toISOString().replace(/[-:]/g, "")}.dump`;
}

const PG_BACKUP_NAME = /^app-\d{8}T\d{6}\.\d{3}Z\.dump$/;

/** Keeps the newest `keep` app-*.dump files of the folder; never touches other files. */
export function prunePgBackups(dir: string, keep: number): string[] {
  if (!fs.existsSync(dir)) return [];
  const removed = fs
    .readdirSync(dir)
    .filter((f) => PG_BACKUP_NAME.test(f))
    .sort()
    .reverse()
    .slice(Math.max(keep, 1))
    .map((f) => path.join(dir, f));
  for (const file of removed) fs.rmSync(file, { force: true });
  return removed;
}

export type ArchiveCheck = { tables: number; hasLedger: boolean };

/** `pg_restore --list`: the file is a custom-format archive of the app's database. */
export async function checkArchive(file: string, env: Record<string, string | undefined> = process.env, options: { appTables?: boolean } = {}): Promise<ArchiveCheck> {
  if (!fs.existsSync(file)) throw new PgBackupError(`no backup at ${file}`);
  const listed = await run(pgTool("pg_restore", env), ["--list", file], {});
  if (listed.code !== 0) throw new PgBackupError(`${file} is not a pg_dump archive (custom format): ${listed.err.trim().split("\n")[0]}`);
  const tables = listed.out.split("\n").filter((l) => / TABLE (?:public|drizzle) /.test(l) && !/ TABLE DATA /.test(l));
  const has = (name: string) => tables.some((l) => new RegExp(` TABLE public ${name} `).test(l));
  if ((options.appTables ?? true) && (!has("users") || !has("transactions"))) throw new PgBackupError(`${file} is not a backup of this app's database (no users and transactions tables)`);
  return { tables: tables.length, hasLedger: has("users") && has("transactions") };
}

function fsyncFile(file: string): void {
  const fd = fs.openSync(file, "r");
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

export type PgBackupResult = { file: string; bytes: number; ms: number; tables: number; shown: string };

/**
 * pg_dump into `<destination>.partial-<pid>`, checked with pg_restore --list, mode 0600 (it holds
 * password hashes and sessions), fsynced, then renamed: a file with the final name is complete.
 * `anyDatabase`: the copy kept before a restore, of whatever the database holds (even nothing).
 */
export async function dumpPostgres(
  url: string,
  destination: string,
  env: Record<string, string | undefined> = process.env,
  options: { anyDatabase?: boolean } = {},
): Promise<PgBackupResult> {
  const started = Date.now();
  const tool = pgTool("pg_dump", env);
  const conn = await connectionFor(url, tool);
  fs.mkdirSync(path.dirname(destination), { recursive: true, mode: 0o700 });
  const partial = `${destination}.partial-${process.pid}`;
  try {
    const dumped = await run(tool, ["--format=custom", "--no-password", `--file=${partial}`, `--dbname=${conn.dbname}`], conn.env, conn.env.PGPASSWORD);
    if (dumped.code !== 0) throw new PgBackupError(`pg_dump of ${conn.shown} failed: ${dumped.err.trim() || `exit ${dumped.code}`}`);
    fs.chmodSync(partial, 0o600);
    const check = await checkArchive(partial, env, { appTables: !options.anyDatabase });
    fsyncFile(partial);
    fs.renameSync(partial, destination);
    return { file: destination, bytes: fs.statSync(destination).size, ms: Date.now() - started, tables: check.tables, shown: conn.shown };
  } finally {
    fs.rmSync(partial, { force: true });
  }
}

/** Client sessions on the database other than our own: a running app (or anyone) using it. */
export async function otherSessions(url: string): Promise<string[]> {
  const db = openPgDatabase(url, { max: 1 });
  try {
    const { rows } = await db.pool.query<{ who: string }>(
      `SELECT coalesce(nullif(application_name, ''), '(unnamed)') || ' from ' || coalesce(host(client_addr), 'local socket') AS who
         FROM pg_stat_activity
        WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'`,
    );
    return rows.map((r) => r.who);
  } finally {
    await closePgDatabase(db);
  }
}

export type PgRestoreResult = { from: string; shown: string; previous: string; tables: number; ms: number };

/**
 * Restores a pg_dump archive into DATABASE_URL's database. Refuses (and changes nothing) when the
 * archive does not check, the database cannot be reached, or another client is connected (the app
 * must be stopped: every instance). Keeps the current database as `pre-restore-<time>.dump` in
 * `keepDir` first, then pg_restore --clean --if-exists --single-transaction: all or nothing.
 */
export async function restorePostgres(url: string, from: string, keepDir: string, env: Record<string, string | undefined> = process.env): Promise<PgRestoreResult> {
  const started = Date.now();
  const tool = pgTool("pg_restore", env);
  const conn = await connectionFor(url, tool);
  const check = await checkArchive(from, env);
  let sessions: string[];
  try {
    sessions = await otherSessions(url);
  } catch (error) {
    throw new PgBackupError(`cannot reach the database at ${conn.shown} (DATABASE_URL): ${error instanceof Error ? error.message : String(error)}`);
  }
  if (sessions.length) {
    throw new PgBackupError(`${sessions.length} other connection(s) use ${conn.shown} (${[...new Set(sessions)].join(", ")}): stop every app instance first; nothing was changed`);
  }
  const previous = path.join(keepDir, pgBackupFileName(new Date(), "pre-restore"));
  await dumpPostgres(url, previous, env, { anyDatabase: true });
  const restored = await run(
    tool,
    ["--clean", "--if-exists", "--single-transaction", "--exit-on-error", "--no-owner", "--no-password", `--dbname=${conn.dbname}`, from],
    conn.env,
    conn.env.PGPASSWORD,
  );
  if (restored.code !== 0) {
    throw new PgBackupError(`pg_restore into ${conn.shown} failed and was rolled back (the database is as it was; a copy is at ${previous}): ${restored.err.trim() || `exit ${restored.code}`}`);
  }
  return { from, shown: conn.shown, previous, tables: check.tables, ms: Date.now() - started };
}
