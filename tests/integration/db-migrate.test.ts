import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { ROOT } from "../support/server";

// npm run db:migrate as an operator runs it before a deploy: alone, with only DATA_DIR (or
// DATABASE_PATH) set, no server secrets, and NODE_ENV=production as in the container.

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "db-migrate-"));
  dirs.push(dir);
  return dir;
}

function migrate(env: Record<string, string>) {
  const run = spawnSync(path.join(ROOT, "node_modules/.bin/tsx"), ["scripts/db-migrate.ts"], {
    cwd: ROOT,
    env: { NODE_ENV: "production", PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    encoding: "utf8",
  });
  return { code: run.status, out: run.stdout, err: run.stderr };
}

function tables(file: string): string[] {
  const db = new Database(file, { readonly: true });
  try {
    return (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as Array<{ name: string }>).map((r) => r.name);
  } finally {
    db.close();
  }
}

describe("npm run db:migrate", () => {
  it("the script package.json names exists", () => {
    const scripts = (JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> }).scripts;
    expect(scripts["db:migrate"]).toBe("tsx scripts/db-migrate.ts");
    expect(fs.existsSync(path.join(ROOT, "scripts/db-migrate.ts"))).toBe(true);
  });

  it("migrates a fresh DATA_DIR, says what it applied, and is a no-op the second time", () => {
    const dataDir = path.join(tempDir(), "data"); // not there yet, as on a new volume
    const first = migrate({ DATA_DIR: dataDir });
    expect(first.err).toBe("");
    expect(first.code).toBe(0);
    const file = path.join(dataDir, "app.sqlite");
    expect(first.out).toContain(`db:migrate ${file}`);
    expect(first.out).toMatch(/applied 0000_init/);
    expect(tables(file)).toEqual(expect.arrayContaining(["users", "transactions", "audit_log", "__drizzle_migrations"]));

    const second = migrate({ DATA_DIR: dataDir });
    expect(second.code).toBe(0);
    expect(second.out).toContain("up to date: nothing to apply");
    expect(second.out).not.toMatch(/applied/);
  });

  it("DATABASE_PATH wins over DATA_DIR, as for the server", () => {
    const dir = tempDir();
    const file = path.join(dir, "elsewhere.sqlite");
    expect(migrate({ DATA_DIR: path.join(dir, "unused"), DATABASE_PATH: file }).code).toBe(0);
    expect(tables(file)).toContain("users");
    expect(fs.existsSync(path.join(dir, "unused"))).toBe(false);
  });

  it("a bad configuration exits non-zero with one clear line", () => {
    const blank = migrate({ DATA_DIR: "   " });
    expect(blank.code).toBe(2);
    expect(blank.err.trim()).toBe('db:migrate: DATA_DIR must be a folder path (got "   ")');

    const dir = tempDir();
    const notADatabase = path.join(dir, "notes.txt");
    fs.writeFileSync(notADatabase, "not sqlite at all, just some text that is long enough to be a header\n".repeat(10));
    const bad = migrate({ DATABASE_PATH: notADatabase });
    expect(bad.code).not.toBe(0);
    expect(bad.err).toMatch(/^db:migrate: .*notes\.txt.*not a database/);
    expect(bad.err.trim().split("\n")).toHaveLength(1);
  });
});
