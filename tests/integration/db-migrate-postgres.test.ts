import { spawnSync } from "node:child_process";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT } from "../support/server";
import { startPostgres, type PgServer } from "../support/postgres";

// npm run db:migrate with DATABASE_URL, as an operator runs it before a deploy: the same output
// and exit codes as the SQLite path (tests/integration/db-migrate.test.ts), on a real server.

let server: PgServer;
beforeAll(async () => {
  server = await startPostgres();
});
afterAll(async () => {
  if (server) await server.stop();
});

function migrate(env: Record<string, string>) {
  const run = spawnSync(path.join(ROOT, "node_modules/.bin/tsx"), ["scripts/db-migrate.ts"], {
    cwd: ROOT,
    env: { NODE_ENV: "production", PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    encoding: "utf8",
  });
  return { code: run.status, out: run.stdout, err: run.stderr };
}

async function tables(url: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ name: string }>(
      "SELECT table_schema || '.' || table_name AS name FROM information_schema.tables WHERE table_schema IN ('public', 'drizzle') ORDER BY 1",
    );
    return rows.map((r) => r.name);
  } finally {
    await client.end();
  }
}

// Each test starts the script (tsx) more than once: seconds each on a busy machine.
describe("npm run db:migrate with DATABASE_URL", { timeout: 120_000 }, () => {
  it("migrates an empty database, says what it applied, and is a no-op the second time", async () => {
    const url = await server.createDatabase();
    const first = migrate({ DATABASE_URL: url, DATA_DIR: "/nonexistent/never-created" });
    expect(first.err).toBe("");
    expect(first.code).toBe(0);
    expect(first.out).toContain(`db:migrate ${url}`);
    expect(first.out).toMatch(/applied 0000_init/);
    expect(await tables(url)).toEqual(expect.arrayContaining(["public.users", "public.transactions", "public.audit_log", "drizzle.__drizzle_migrations"]));

    const second = migrate({ DATABASE_URL: url });
    expect(second.code).toBe(0);
    expect(second.out).toContain("up to date: nothing to apply");
    expect(second.out).not.toMatch(/applied/);
  });

  it("a failing migration exits 1 and keeps nothing of it", async () => {
    const url = await server.createDatabase();
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    await client.query("CREATE TABLE users (id integer)"); // in the way of the first migration
    await client.end();
    const run = migrate({ DATABASE_URL: url });
    expect(run.code).toBe(1);
    expect(run.err).toMatch(/^db:migrate: migrating postgres:\/\/.* failed \(nothing of the failed migration was kept\): .*users/);
    expect(run.err.trim().split("\n")).toHaveLength(1);
    expect(await tables(url)).not.toContain("public.transactions");
  });

  it("a bad or unreachable URL exits 2 with one clear line, and never shows the password", async () => {
    const scheme = migrate({ DATABASE_URL: "mysql://app:hunter2@db.example.com/credits" });
    expect(scheme.code).toBe(2);
    expect(scheme.err.trim()).toBe(
      'db:migrate: DATABASE_URL must be a postgres:// or postgresql:// URL such as postgres://user:password@host:5432/credits?sslmode=require (got "mysql://app:***@db.example.com/credits")',
    );

    const mangled = migrate({ DATABASE_URL: "postgres//app:hunter2@db" });
    expect(mangled.code).toBe(2);
    expect(mangled.err).toMatch(/^db:migrate: DATABASE_URL must be a postgres:\/\//);
    expect(mangled.err).not.toContain("hunter2");

    const closed = new URL(await server.createDatabase());
    closed.port = "1"; // nothing listens there
    closed.password = "hunter2";
    const unreachable = migrate({ DATABASE_URL: closed.toString() });
    expect(unreachable.code).toBe(2);
    expect(unreachable.err).toMatch(/^db:migrate: cannot reach the database at postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:1\/.* \(DATABASE_URL\): .*ECONNREFUSED/);
    expect(unreachable.err.trim().split("\n")).toHaveLength(1);
    expect(unreachable.err).not.toContain("hunter2");
  });
});
