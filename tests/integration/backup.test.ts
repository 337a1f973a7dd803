import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HttpClient, ROOT, startServer, type RunningServer } from "../support/server";

// npm run db:backup while the app serves traffic, then db:restore and ledger:verify — the
// commands a self-hoster runs, as they run them.

type Run = { code: number | null; out: string };

function npmRun(script: string, args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn("npm", ["run", "-s", script, "--", ...args], {
      cwd: ROOT,
      env: { NODE_ENV: "production", PATH: process.env.PATH, HOME: process.env.HOME, LOG_LEVEL: "warn", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    child.on("exit", (code) => resolve({ code, out }));
  });
}

function emails(file: string): Set<string> {
  const db = new Database(file, { readonly: true });
  try {
    return new Set((db.prepare("SELECT email FROM users").all() as Array<{ email: string }>).map((r) => r.email));
  } finally {
    db.close();
  }
}

let server: RunningServer;
let dataDir: string;
let backupFile: string;
const before: string[] = [];

beforeAll(async () => {
  server = await startServer();
  dataDir = server.dataDir;
  for (let i = 0; i < 5; i++) {
    const email = `before-${i}@example.com`;
    await new HttpClient(server.url).signup(email);
    before.push(email);
  }
});
afterAll(async () => {
  await server?.stop();
});

describe("db:backup while the app serves traffic", () => {
  it("copies a consistent, verified snapshot while sign-ups and page views keep being answered", async () => {
    let stop = false;
    const statuses: number[] = [];
    const during: string[] = [];
    let n = 0;
    const traffic = async () => {
      while (!stop) {
        const email = `during-${n++}@example.com`;
        const res = await new HttpClient(server.url).post("/signup", { email, password: "password123" });
        statuses.push(res.status);
        if (res.status === 303) during.push(email);
        statuses.push((await fetch(`${server.url}/login`)).status);
      }
    };
    const writers = [traffic(), traffic(), traffic()];
    await new Promise((r) => setTimeout(r, 150));
    const started = Date.now();
    const backup = await npmRun("db:backup", [], { DATA_DIR: dataDir });
    const backupMs = Date.now() - started;
    await new Promise((r) => setTimeout(r, 150));
    stop = true;
    await Promise.all(writers);

    expect(backup.code, backup.out).toBe(0);
    expect(backup.out).toMatch(/integrity ok; \d+ users, \d+ transactions, \d+ migrations/);
    // The traffic never failed or waited on the backup's lock.
    expect(statuses.length).toBeGreaterThan(10);
    expect(statuses.every((s) => s === 303 || s === 200)).toBe(true);
    expect(backupMs).toBeLessThan(15_000);

    const files = fs.readdirSync(path.join(dataDir, "backups")).filter((f) => f.endsWith(".sqlite"));
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/^app-\d{8}T\d{6}\.\d{3}Z\.sqlite$/);
    backupFile = path.join(dataDir, "backups", files[0]!);
    expect(fs.statSync(backupFile).mode & 0o777).toBe(0o600);
    expect(fs.existsSync(`${backupFile}-wal`)).toBe(false); // one self-contained file

    // A snapshot: everything from before, part of what came during, nothing half-written.
    const copied = emails(backupFile);
    for (const email of before) expect(copied.has(email), email).toBe(true);
    expect(copied.size).toBeLessThanOrEqual(before.length + during.length);
    expect(copied.size).toBeGreaterThanOrEqual(before.length);

    const verify = await npmRun("ledger:verify", [], { DATABASE_PATH: backupFile });
    expect(verify.code, verify.out).toBe(0);
    expect(verify.out).toContain("OK: no violation");
  });
});

describe("db:restore", () => {
  it("refuses while the app has the database open, and changes nothing", async () => {
    await new HttpClient(server.url).signup("after-backup@example.com");
    const res = await npmRun("db:restore", [backupFile], { DATA_DIR: dataDir });
    expect(res.code).toBe(1);
    expect(res.out).toContain("is in use (is the app running?)");
    expect((await new HttpClient(server.url).post("/login", { email: "after-backup@example.com", password: "password123" })).status).toBe(303);
  });

  it("refuses a file that is not a backup of this app", async () => {
    const junk = path.join(dataDir, "junk.sqlite");
    fs.writeFileSync(junk, "this is not a database, it is just text ".repeat(200));
    const res = await npmRun("db:restore", [junk], { DATA_DIR: dataDir });
    expect(res.code).toBe(1);
    expect(res.out).toContain("is not a usable backup");
  });

  it("backup → stop → restore → start: the backup's data is back and ledger:verify is clean", async () => {
    expect(await server.stop()).toBe(0);
    const res = await npmRun("db:restore", [backupFile], { DATA_DIR: dataDir });
    expect(res.code, res.out).toBe(0);
    expect(res.out).toContain("the previous database is kept as");
    const kept = fs.readdirSync(dataDir).filter((f) => f.startsWith("app.sqlite.pre-restore-"));
    expect(kept).toHaveLength(1);
    expect(emails(path.join(dataDir, kept[0]!)).has("after-backup@example.com")).toBe(true);

    const verify = await npmRun("ledger:verify", [], { DATA_DIR: dataDir });
    expect(verify.code, verify.out).toBe(0);

    server = await startServer({}, { dataDir });
    for (const email of before) {
      const login = await new HttpClient(server.url).post("/login", { email, password: "password123" });
      expect(login.status, email).toBe(303);
    }
    const gone = await new HttpClient(server.url).post("/login", { email: "after-backup@example.com", password: "password123" });
    expect(gone.status).toBe(400);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });
});
