import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, HttpClient, startServer, type RunningServer } from "../support/server";
import { startPostgres, type PgServer } from "../support/postgres";
import { withServerSql } from "../support/server-sql";

// The server with DATABASE_URL runs on PostgreSQL (issue 18): it migrates the database itself
// (two instances starting at once on an empty one, as a deploy does), keeps no SQLite file, never
// shows the password, and stops with the configuration exit code when the database is not there.

let pgServer: PgServer;
const dirs: string[] = [];
const servers: RunningServer[] = [];
beforeAll(async () => {
  pgServer = await startPostgres();
}, 60_000);
afterAll(async () => {
  for (const s of servers) await s.stop();
  await pgServer?.stop();
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

const tempDir = (name: string) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), name));
  dirs.push(dir);
  return dir;
};

/** The URL with a password, on a role that has one, so the test can look for it in the output. */
async function urlWithPassword(base: string, password: string): Promise<string> {
  const u = new URL(base);
  const { default: pg } = await import("pg");
  const client = new pg.Client({ connectionString: base });
  await client.connect();
  const role = `app_${Math.random().toString(36).slice(2, 8)}`;
  await client.query(`CREATE ROLE ${role} LOGIN PASSWORD '${password}' SUPERUSER`);
  await client.end();
  u.username = role;
  u.password = password;
  return u.toString();
}

describe("the server with DATABASE_URL", () => {
  it("two instances migrate one empty database at once and serve from it; no SQLite file, no password in the output", { timeout: 120_000 }, async () => {
    const url = await urlWithPassword(await pgServer.createDatabase(), "s3cret-Pw-91");
    const [dirA, dirB] = [tempDir("credits-pg-a-"), tempDir("credits-pg-b-")];
    const [a, b] = await Promise.all([startServer({ DATABASE_URL: url }, { dataDir: dirA }), startServer({ DATABASE_URL: url }, { dataDir: dirB })]);
    servers.push(a, b);

    const migrations = await withServerSql(a, (sql) => sql.all<{ id: number }>("SELECT id FROM drizzle.__drizzle_migrations"));
    const journal = JSON.parse(fs.readFileSync(path.join(import.meta.dirname, "../../db/migrations-pg/meta/_journal.json"), "utf8")) as { entries: unknown[] };
    expect(migrations.length).toBe(journal.entries.length); // each applied once, not twice

    // A sign-up on one instance is a login on the other: the account and the session are in PostgreSQL.
    const email = "pg-both@example.com";
    await new HttpClient(a.url).signup(email);
    const users = await withServerSql(b, (sql) => sql.all<{ email: string }>("SELECT email FROM users WHERE email = ?", [email]));
    expect(users).toEqual([{ email }]);
    const onB = new HttpClient(b.url);
    await onB.login(email);
    const credits = await onB.get("/api/credits");
    expect(credits.status).toBe(200);
    expect(((await credits.json()) as { balance: number }).balance).toBeGreaterThanOrEqual(0);

    // No app database beside it (the embedded Stripe emulator keeps its own file, not the app's).
    for (const dir of [dirA, dirB]) expect(fs.readdirSync(dir).filter((f) => f.startsWith("app.sqlite"))).toEqual([]);
    for (const s of [a, b]) {
      expect(s.output()).not.toContain("s3cret-Pw-91");
    }
  });

  it("an unreachable database stops the start with exit 78, one reason, the password masked, no SQLite file", { timeout: 60_000 }, async () => {
    const dataDir = tempDir("credits-pg-down-");
    const port = await freePort(); // nothing listens there
    const failure = await startServer({ DATABASE_URL: `postgres://app:hunter2-secret@127.0.0.1:${port}/credits` }, { dataDir }).then(
      async (running) => {
        await running.stop();
        return null;
      },
      (error: Error) => error.message,
    );
    expect(failure).not.toBeNull();
    expect(failure!.split("\n")[0]).toBe("server exited with 78:");
    expect(failure).toMatch(/cannot open the database at postgres:\/\/app:\*\*\*@127\.0\.0\.1:\d+\/credits \(DATABASE_URL\)/);
    expect(failure).not.toContain("hunter2-secret");
    expect(fs.readdirSync(dataDir).filter((f) => f.includes("sqlite"))).toEqual([]);
  });

  it("a database that does not exist on a reachable server is the same configuration error", { timeout: 60_000 }, async () => {
    const dataDir = tempDir("credits-pg-missing-");
    const missing = new URL(pgServer.url);
    missing.pathname = "/no_such_database_here";
    const failure = await startServer({ DATABASE_URL: missing.toString() }, { dataDir }).then(
      async (running) => {
        await running.stop();
        return null;
      },
      (error: Error) => error.message,
    );
    expect(failure!.split("\n")[0]).toBe("server exited with 78:");
    expect(failure).toMatch(/cannot open the database at .*no_such_database_here \(DATABASE_URL\): .*does not exist/);
  });
});
