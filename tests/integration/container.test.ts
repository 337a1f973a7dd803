import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { find, healthcheckCommand, commandOf, readDockerfile, stageEnv } from "../support/dockerfile";
import { freePort, HttpClient, ROOT } from "../support/server";

// The image's start command and health check, taken from the Dockerfile and run outside Docker
// against a fresh data folder, with the image's environment (Docker is not available in CI).
// Requires `npm run build` (the image runs the build too).
const stages = readDockerfile();
const runtime = stages[stages.length - 1]!;
const CMD = commandOf(find(runtime, "CMD")[0]!.args);
const HEALTHCHECK = healthcheckCommand(find(runtime, "HEALTHCHECK")[0]!.args);
const IMAGE_ENV = stageEnv(stages, runtime);

const root = fs.mkdtempSync(path.join(os.tmpdir(), "credits-container-"));
const dataDir = path.join(root, "data"); // does not exist yet: a fresh volume
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

type Container = { child: ChildProcess; url: string; env: Record<string, string>; output: () => string; exited: Promise<number | null> };

async function containerEnv(extra: Record<string, string> = {}): Promise<Record<string, string>> {
  const port = await freePort();
  return {
    ...IMAGE_ENV,
    PATH: process.env.PATH!,
    HOME: process.env.HOME ?? root,
    // What `docker run -v …:/data -e …` would set; loopback instead of 0.0.0.0 on a CI machine.
    DATA_DIR: dataDir,
    PORT: String(port),
    HOST: "127.0.0.1",
    APP_URL: `http://127.0.0.1:${port}`,
    SESSION_SECRET: "container-test-secret-0123456789abcdef",
    STRIPE_EMULATOR: "on",
    MAIL_OUTBOX: "on",
    AUTH_RATE_LIMIT_DISABLED: "1",
    LOG_LEVEL: "info",
    ...extra,
  };
}

function run(argv: string[], env: Record<string, string>): ChildProcess {
  return spawn(argv[0]!, argv.slice(1), { cwd: ROOT, env: env as NodeJS.ProcessEnv, stdio: ["ignore", "pipe", "pipe"] });
}

async function startContainer(extra: Record<string, string> = {}): Promise<Container> {
  const env = await containerEnv(extra);
  const child = run(CMD, env);
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const url = env.APP_URL!;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the start command exited with ${child.exitCode}:\n${out}`);
    const ok = await fetch(`${url}/healthz`).then((r) => r.status === 200, () => false);
    if (ok) break;
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`/healthz never answered 200:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { child, url, env, output: () => out, exited };
}

function exitCodeOf(argv: string[], env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = run(argv, env);
    let out = "";
    child.stdout!.on("data", (d) => (out += d));
    child.stderr!.on("data", (d) => (out += d));
    child.on("exit", (code) => resolve({ code, out }));
  });
}

function users(file: string): string[] {
  const db = new Database(file, { readonly: true });
  try {
    return (db.prepare("SELECT email FROM users ORDER BY id").all() as Array<{ email: string }>).map((u) => u.email);
  } finally {
    db.close();
  }
}

describe("the container's start command, outside Docker", () => {
  it(`${CMD.join(" ")}: creates and migrates a fresh data folder, serves /healthz, passes the HEALTHCHECK, stops cleanly on SIGTERM`, async () => {
    expect(fs.existsSync(dataDir)).toBe(false);
    const c = await startContainer();
    const health = await fetch(`${c.url}/healthz`);
    expect(await health.json()).toMatchObject({ status: "ok" });

    // Migrations were applied on start: every migration of db/migrations is recorded.
    const journal = JSON.parse(fs.readFileSync(path.join(ROOT, "db/migrations/meta/_journal.json"), "utf8")) as { entries: unknown[] };
    const db = new Database(path.join(dataDir, "app.sqlite"), { readonly: true });
    try {
      expect((db.prepare("SELECT count(*) AS n FROM __drizzle_migrations").get() as { n: number }).n).toBe(journal.entries.length);
    } finally {
      db.close();
    }

    // The image's HEALTHCHECK command, with the image's environment.
    const hc = await exitCodeOf(HEALTHCHECK, c.env);
    expect(hc.code, hc.out).toBe(0);
    const port = await freePort();
    const down = await exitCodeOf(HEALTHCHECK, { ...c.env, PORT: String(port) });
    expect(down.code).toBe(1);
    expect(down.out).toContain("unreachable");

    await new HttpClient(c.url).signupUnverified("first@example.com");

    // `docker stop` sends SIGTERM to the command's process (npm here): it must reach the server.
    c.child.kill("SIGTERM");
    expect(await c.exited).toBe(0);
    expect(c.output()).toContain("stopped cleanly");
    await expect(fetch(`${c.url}/healthz`)).rejects.toThrow(); // no orphaned server left behind
    expect(fs.existsSync(path.join(dataDir, "app.sqlite-wal"))).toBe(false);
  });

  it("restores $DATA_DIR/restore.sqlite before the app starts (how a restore is done on Fly.io)", async () => {
    const backup = path.join(root, "backup-with-first.sqlite");
    fs.copyFileSync(path.join(dataDir, "app.sqlite"), backup); // checkpointed and closed: a whole copy

    const second = await startContainer();
    await new HttpClient(second.url).signupUnverified("second@example.com");
    second.child.kill("SIGTERM");
    expect(await second.exited).toBe(0);
    expect(users(path.join(dataDir, "app.sqlite"))).toEqual(["first@example.com", "second@example.com"]);

    fs.copyFileSync(backup, path.join(dataDir, "restore.sqlite"));
    const third = await startContainer();
    expect(third.output()).toContain("restore.sqlite found: restoring it before the app starts");
    expect(fs.existsSync(path.join(dataDir, "restore.sqlite"))).toBe(false);
    expect((await new HttpClient(third.url).post("/login", { email: "first@example.com", password: "password123" })).status).toBe(303);
    expect((await new HttpClient(third.url).post("/login", { email: "second@example.com", password: "password123" })).status).toBe(400);
    third.child.kill("SIGTERM");
    expect(await third.exited).toBe(0);
    const kept = fs.readdirSync(dataDir).filter((f) => f.startsWith("app.sqlite.pre-restore-"));
    expect(kept).toHaveLength(1);
    expect(users(path.join(dataDir, kept[0]!))).toContain("second@example.com");
  });

  it("explains an unusable data folder instead of crashing later", async () => {
    const file = path.join(root, "a-file");
    fs.writeFileSync(file, "");
    const env = await containerEnv({ DATA_DIR: path.join(file, "data") });
    const res = await exitCodeOf(CMD, env);
    expect(res.code).toBe(73);
    expect(res.out).toContain("is not writable");
    expect(res.out).toContain("Mount a volume there owned by uid 1000");
  });
});
