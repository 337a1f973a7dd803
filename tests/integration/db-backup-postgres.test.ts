import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closePgDatabase, migratePgDatabase, openPgDatabase } from "../../db/pg-client.server";
import { pgSql } from "../../db/sql.server";
import { insertUserOn } from "../support/engines";
import { startPostgres, type PgServer } from "../support/postgres";
import { ROOT } from "../support/server";

// npm run db:backup / db:restore with DATABASE_URL, as an operator runs them: pg_dump into the
// backups folder, pg_restore back, on a real PostgreSQL server (decision 040).

let server: PgServer;
const dirs: string[] = [];
beforeAll(async () => {
  server = await startPostgres();
});
afterAll(async () => {
  if (server) await server.stop();
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

const tempDir = () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "credits-pg-backup-"));
  dirs.push(dir);
  return dir;
};

type Run = { code: number | null; out: string; err: string };
const run = (script: "db-backup" | "db-restore", args: string[], env: Record<string, string>) =>
  new Promise<Run>((resolve) => {
    execFile(
      `${ROOT}/node_modules/.bin/tsx`,
      [`scripts/${script}.ts`, ...args],
      { cwd: ROOT, encoding: "utf8", env: { NODE_ENV: "production", PATH: process.env.PATH, HOME: process.env.HOME, ...env } },
      (error, out, err) => resolve({ code: error ? (typeof error.code === "number" ? error.code : null) : 0, out, err }),
    );
  });

/** The URL with a password in it: trust auth ignores it, so it only shows whether it leaks. */
const withPassword = (url: string) => {
  const u = new URL(url);
  u.username = "postgres";
  u.password = "hunter2";
  return u.toString();
};

async function migratedWithLedger(): Promise<string> {
  const url = await server.createDatabase();
  const db = openPgDatabase(url, { max: 2 });
  await migratePgDatabase(db);
  const sql = pgSql(db.pool);
  try {
    await insertUserOn({ sql }, "ada@example.com", "user", 120);
    await insertUserOn({ sql }, "grace@example.com", "admin", 45);
  } finally {
    await sql.close();
    await closePgDatabase(db).catch(() => undefined);
  }
  return url;
}

async function query<T extends pg.QueryResultRow>(url: string, text: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(text, params)).rows;
  } finally {
    await client.end();
  }
}

/** Everything the money is: users and their balances, every ledger row, the migrations applied. */
const snapshot = async (url: string) => ({
  users: await query(url, "SELECT id, email, role, credits FROM users ORDER BY id"),
  transactions: await query(url, "SELECT id, user_id, type, amount, idempotency_key FROM transactions ORDER BY id"),
  migrations: await query(url, "SELECT hash FROM drizzle.__drizzle_migrations ORDER BY id"),
});

describe("db:backup and db:restore with DATABASE_URL", { timeout: 240_000 }, () => {
  it("backs up a migrated database with ledger rows, and a restore brings exactly those rows back", async () => {
    const url = withPassword(await migratedWithLedger());
    const before = await snapshot(url);
    expect(before.users).toHaveLength(2);
    expect(before.transactions.length).toBeGreaterThanOrEqual(2);
    const backups = tempDir();

    const backup = await run("db-backup", [], { DATABASE_URL: url, BACKUP_DIR: backups });
    expect(backup.err).toBe("");
    expect(backup.code).toBe(0);
    const files = fs.readdirSync(backups);
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/^app-\d{8}T\d{6}\.\d{3}Z\.dump$/);
    expect(fs.statSync(path.join(backups, files[0]!)).mode & 0o777).toBe(0o600);
    expect(backup.out).toContain(`-> ${path.join(backups, files[0]!)}`);
    expect(backup.out).toContain("postgres:***@127.0.0.1");
    expect(backup.out + backup.err).not.toContain("hunter2");

    // Change it after the backup: a new customer with credits, a balance moved by hand.
    const db = openPgDatabase(url, { max: 2 });
    const sql = pgSql(db.pool);
    await insertUserOn({ sql }, "late@example.com", "user", 999);
    await sql.close();
    await closePgDatabase(db).catch(() => undefined);
    await query(url, "UPDATE users SET credits = credits + 1000 WHERE email = 'ada@example.com'");
    expect((await snapshot(url)).users).toHaveLength(3);

    const restore = await run("db-restore", ["--", path.join(backups, files[0]!)], { DATABASE_URL: url, BACKUP_DIR: backups });
    expect(restore.err).toBe("");
    expect(restore.code).toBe(0);
    expect(restore.out + restore.err).not.toContain("hunter2");
    expect(await snapshot(url)).toEqual(before);
    // The database as it was before the restore is kept beside the backups.
    const kept = fs.readdirSync(backups).filter((f) => f.startsWith("pre-restore-"));
    expect(kept).toHaveLength(1);
    expect(restore.out).toContain(path.join(backups, kept[0]!));

    // …and a new user after the restore gets a fresh id: the sequences came back too.
    const rows = await query<{ id: number }>(url, "INSERT INTO users (email, password_hash, role) VALUES ('after@example.com', 'x', 'user') RETURNING id");
    expect(Number(rows[0]!.id)).toBeGreaterThan(Math.max(...before.users.map((u) => Number(u.id))));
  });

  it("restores into an empty (wiped) database: schema, migrations and ledger rows", async () => {
    const source = await migratedWithLedger();
    const backups = tempDir();
    const file = path.join(backups, "explicit.dump");
    const backup = await run("db-backup", ["--", file], { DATABASE_URL: source, BACKUP_DIR: backups });
    expect(backup.code).toBe(0);
    expect(fs.readdirSync(backups)).toEqual(["explicit.dump"]); // an explicit destination: exactly that file

    const empty = await server.createDatabase();
    const restore = await run("db-restore", ["--", file], { DATABASE_URL: empty, BACKUP_DIR: backups });
    expect(restore.err).toBe("");
    expect(restore.code).toBe(0);
    expect(await snapshot(empty)).toEqual(await snapshot(source));
  });

  it("keeps the newest BACKUP_RETENTION dumps and never touches other files", async () => {
    const url = await migratedWithLedger();
    const backups = tempDir();
    const old = ["app-20260101T000000.000Z.dump", "app-20260102T000000.000Z.dump"];
    for (const f of [...old, "app-20260101T000000.000Z.sqlite", "notes.txt"]) fs.writeFileSync(path.join(backups, f), "x");
    const backup = await run("db-backup", [], { DATABASE_URL: url, BACKUP_DIR: backups, BACKUP_RETENTION: "2" });
    expect(backup.code).toBe(0);
    const left = fs.readdirSync(backups).sort();
    expect(left).toContain("app-20260102T000000.000Z.dump");
    expect(left).not.toContain("app-20260101T000000.000Z.dump");
    expect(left).toEqual(expect.arrayContaining(["app-20260101T000000.000Z.sqlite", "notes.txt"]));
    expect(left.filter((f) => f.endsWith(".dump"))).toHaveLength(2);
  });

  it("refuses to restore while another client uses the database, and changes nothing", async () => {
    const url = await migratedWithLedger();
    const backups = tempDir();
    const file = path.join(backups, "b.dump");
    expect((await run("db-backup", ["--", file], { DATABASE_URL: url })).code).toBe(0);
    await query(url, "UPDATE users SET credits = credits + 7 WHERE email = 'ada@example.com'");
    const changed = await snapshot(url);

    const app = new pg.Client({ connectionString: url, application_name: "credits-app" });
    await app.connect();
    try {
      const restore = await run("db-restore", ["--", file], { DATABASE_URL: url, BACKUP_DIR: backups });
      expect(restore.code).toBe(1);
      expect(restore.err).toMatch(/^db:restore refused: 1 other connection\(s\) use .* \(credits-app from 127\.0\.0\.1\): stop every app instance first; nothing was changed\n$/);
    } finally {
      await app.end();
    }
    expect(await snapshot(url)).toEqual(changed);
    expect(fs.readdirSync(backups)).toEqual(["b.dump"]); // no pre-restore copy either: nothing was tried
  });

  it("a file that is not a backup of this app is refused before anything changes", async () => {
    const url = await migratedWithLedger();
    const backups = tempDir();
    const garbage = path.join(backups, "garbage.dump");
    fs.writeFileSync(garbage, "PGDMP but not really");
    const sqliteFile = path.join(backups, "app.sqlite");
    fs.writeFileSync(sqliteFile, "SQLite format 3\0");
    const otherDb = await server.createDatabase();
    await query(otherDb, "CREATE TABLE notes (id int)");
    const foreign = path.join(backups, "foreign.dump");
    expect((await run("db-backup", ["--", foreign], { DATABASE_URL: otherDb })).code).toBe(1); // not the app's: refused at backup too
    expect(fs.existsSync(foreign)).toBe(false);
    expect(fs.readdirSync(backups).some((f) => f.includes(".partial-"))).toBe(false);
    const before = await snapshot(url);

    const cases: Array<[string, RegExp]> = [
      [garbage, /is not a pg_dump archive/],
      [sqliteFile, /is not a pg_dump archive/],
      [path.join(backups, "missing.dump"), /no backup at/],
    ];
    const results = await Promise.all(cases.map(([file]) => run("db-restore", ["--", file], { DATABASE_URL: url, BACKUP_DIR: backups })));
    results.forEach((r, i) => {
      expect(r.code, cases[i]![0]).toBe(1);
      expect(r.err, cases[i]![0]).toMatch(cases[i]![1]);
    });
    expect(await snapshot(url)).toEqual(before);
    expect(fs.readdirSync(backups).filter((f) => f.startsWith("pre-restore-"))).toEqual([]);
  });

  it("a hostile DATABASE_URL gets a clear answer, never shows the password, and changes nothing", async () => {
    const url = await migratedWithLedger();
    const before = await snapshot(url);
    const backups = tempDir();
    const file = path.join(backups, "good.dump");
    expect((await run("db-backup", ["--", file], { DATABASE_URL: url })).code).toBe(0);
    const at = (mutate: (u: URL) => void) => {
      const u = new URL(withPassword(url));
      mutate(u);
      return u.toString();
    };
    const cases: Array<{ url: string; code: number; err: RegExp }> = [
      { url: "mysql://root:hunter2@127.0.0.1/credits", code: 2, err: /DATABASE_URL must be a postgres:\/\/ or postgresql:\/\/ URL/ },
      { url: "not a url", code: 2, err: /DATABASE_URL must be a postgres:\/\//i },
      { url: at((u) => (u.pathname = "/")), code: 2, err: /DATABASE_URL names no database/ },
      { url: at((u) => (u.pathname = "/no_such_db")), code: 1, err: /no_such_db.*does not exist/ },
      { url: at((u) => (u.port = "1")), code: 1, err: /127\.0\.0\.1.*(refused|failed)/i },
    ];
    for (const script of ["db-backup", "db-restore"] as const) {
      const results = await Promise.all(
        cases.map((c) => run(script, script === "db-restore" ? ["--", file] : [], { DATABASE_URL: c.url, BACKUP_DIR: backups })),
      );
      results.forEach((r, i) => {
        const label = `${script} ${cases[i]!.url.replace("hunter2", "***")}`;
        expect(r.code, `${label}: ${r.err}`).toBe(cases[i]!.code);
        expect(r.err, label).toMatch(cases[i]!.err);
        expect(r.out + r.err, label).not.toContain("hunter2");
      });
    }
    expect(fs.readdirSync(backups)).toEqual(["good.dump"]);
    expect(await snapshot(url)).toEqual(before);
  });

  it("restore-at-start (--pending) is SQLite's: nothing to do on PostgreSQL, and a waiting restore.sqlite stops the start", async () => {
    const url = await migratedWithLedger();
    const dataDir = tempDir();
    const nothing = await run("db-restore", ["--", "--pending"], { DATABASE_URL: url, DATA_DIR: dataDir });
    expect(nothing).toEqual({ code: 0, out: "", err: "" });
    fs.writeFileSync(path.join(dataDir, "restore.sqlite"), "SQLite format 3\0");
    const before = await snapshot(url);
    const waiting = await run("db-restore", ["--", "--pending"], { DATABASE_URL: url, DATA_DIR: dataDir });
    expect(waiting.code).toBe(2);
    expect(waiting.err).toMatch(/restore\.sqlite waits to be restored, but DATABASE_URL is set: a SQLite backup goes into PostgreSQL with npm run db:copy-to-postgres/);
    expect(fs.readdirSync(dataDir)).toEqual(["restore.sqlite"]); // kept: the operator decides
    expect(await snapshot(url)).toEqual(before);
  });

  it("says where to get pg_dump when PG_BIN holds none", async () => {
    const url = await migratedWithLedger();
    const empty = tempDir();
    const backup = await run("db-backup", [], { DATABASE_URL: url, BACKUP_DIR: empty, PG_BIN: empty });
    expect(backup.code).toBe(2);
    expect(backup.err).toBe(`db:backup failed: pg_dump not found in PG_BIN (${empty}): install PostgreSQL's client tools (Debian: apt-get install postgresql-client) or set PG_BIN to the folder holding them\n`);
    expect(fs.readdirSync(empty)).toEqual([]);
  });
});
