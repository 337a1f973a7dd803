import { fork, type ChildProcess } from "node:child_process";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { verifyLedger } from "../../app/services/money/ledger-verify.server";
import { startFakeOpenAI, type FakeOpenAI } from "../mocks/openai-server";
import { ROOT, startServer, type RunningServer } from "../support/server";
import { balanceOf, expectLedgerConsistent, postJson, readDb, signedIn } from "./generation-support";

// Another OS process (lock-holder.ts) holds SQLite's write lock while the API is called: the API
// answers 503 database_busy JSON within a bounded time instead of a plain-text 500 after many
// seconds, and once the lock is released no job is left `running` on a `pending` hold and every
// balance is whole.

const LOCK_HOLDER = path.join(ROOT, "tests/integration/lock-holder.ts");
let fake: FakeOpenAI;
let server: RunningServer;
const holders: ChildProcess[] = [];

beforeAll(async () => {
  fake = await startFakeOpenAI({ videoDurationMs: 300 });
  server = await startServer({
    GENERATION_PROVIDER: "openai",
    OPENAI_BASE_URL: fake.url,
    OPENAI_API_KEY: fake.apiKey,
    SIGNUP_BONUS_CREDITS: "100",
    VIDEO_COST: "30",
    DATABASE_BUSY_TIMEOUT_MS: "200",
    GENERATION_RECONCILE_INTERVAL_SECONDS: "1",
    HOLD_SWEEP_INTERVAL_SECONDS: "1",
    GENERATION_TIMEOUT_SECONDS: "10",
    GENERATION_HOLD_TTL_SECONDS: "60",
  });
});

afterEach(() => {
  fake.setBehaviour({});
  for (const child of holders.splice(0)) if (child.exitCode === null) child.kill("SIGKILL");
});

afterAll(async () => {
  await server?.stop();
  await fake?.close();
});

/** Starts the second process and resolves once it holds BEGIN IMMEDIATE; release() commits. */
async function holdWriteLock(): Promise<{ release(): Promise<void> }> {
  const child = fork(LOCK_HOLDER, [path.join(server.dataDir, "app.sqlite"), "30000"], {
    cwd: ROOT,
    execArgv: ["--import", "tsx"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  holders.push(child);
  const messages: string[] = [];
  const next = (wanted: string) =>
    new Promise<void>((resolve, reject) => {
      if (messages.includes(wanted)) return resolve();
      child.on("message", (m: string) => m === wanted && resolve());
      child.once("exit", (code) => reject(new Error(`lock holder exited with ${code} before "${wanted}"`)));
    });
  child.on("message", (m: string) => messages.push(m));
  await next("locked");
  return {
    async release() {
      child.send("release");
      await next("released");
    },
  };
}

function expectLedgerClean() {
  const report = readDb(server.dataDir, (db) => verifyLedger(db, { sweepGraceMs: 60_000, integrity: true }));
  expect(report.violations).toEqual([]);
  expectLedgerConsistent(server.dataDir);
  const stuck = readDb(server.dataDir, ({ sqlite }) =>
    sqlite
      .prepare(`select g.id from generations g join transactions t on t.id = g.hold_id where g.status in ('queued','running') and t.status = 'pending'`)
      .all(),
  );
  expect(stuck).toEqual([]);
}

async function expectBusy(res: Response, startedAt: number) {
  // 4 × the 200 ms busy timeout plus backoff at most; 8 s leaves room for a loaded machine while
  // staying well apart from the old behaviour (a plain-text 500 after 10 s).
  expect(Date.now() - startedAt).toBeLessThan(8_000);
  expect(res.status).toBe(503);
  expect(res.headers.get("content-type")).toMatch(/application\/json/);
  expect(res.headers.get("retry-after")).toMatch(/^\d+$/);
  expect(await res.json()).toMatchObject({ error: "database_busy", message: expect.any(String) });
}

describe("a second process holds the write lock", () => {
  it("a new image or video is 503 database_busy JSON; after the lock frees nothing is left behind", async () => {
    const client = await signedIn(server.url, "busy-open");
    const lock = await holdWriteLock();
    try {
      let startedAt = Date.now();
      await expectBusy(await postJson(client, "/api/generate-image", { prompt: "a red fox" }), startedAt);
      startedAt = Date.now();
      await expectBusy(await postJson(client, "/api/generate-video", { prompt: "a red fox running" }), startedAt);
      // Reads are not blocked by a writer (WAL): the balance is still answered.
      expect(await balanceOf(client)).toMatchObject({ balance: 100, onHold: 0 });
    } finally {
      await lock.release();
    }
    const jobs = readDb(server.dataDir, ({ sqlite }) => sqlite.prepare("select count(*) as n from generations").get());
    expect(jobs).toEqual({ n: 0 });
    expect(await balanceOf(client)).toMatchObject({ balance: 100, onHold: 0 });
    expectLedgerClean();
    // The lock gone, the same request works.
    expect((await postJson(client, "/api/generate-image", { prompt: "a red fox" })).status).toBe(201);
  });

  it("a lock taken while an image renders: 503, and the written job is failed and its hold voided once the lock frees", async () => {
    const client = await signedIn(server.url, "busy-complete");
    const { userId } = await balanceOf(client);
    fake.setBehaviour({ delayMs: 1_500 });
    const startedAt = Date.now();
    const pending = postJson(client, "/api/generate-image", { prompt: "a slow owl" });
    const deadline = Date.now() + 5_000;
    while (!fake.requests.some((r) => r.path === "/images/generations" && (r.body as { prompt?: string })?.prompt === "a slow owl")) {
      if (Date.now() > deadline) throw new Error("the provider was never called");
      await new Promise((r) => setTimeout(r, 20));
    }
    const lock = await holdWriteLock();
    let res: Response;
    try {
      res = await pending;
      await expectBusy(res, startedAt);
      const row = readDb(server.dataDir, ({ sqlite }) =>
        sqlite.prepare(`select g.status, t.status as hold from generations g join transactions t on t.id = g.hold_id where g.user_id = ?`).get(userId),
      );
      expect(row).toEqual({ status: "running", hold: "pending" }); // still locked: nothing could be written
    } finally {
      await lock.release();
    }
    const settleBy = Date.now() + 15_000;
    let row: unknown;
    for (;;) {
      row = readDb(server.dataDir, ({ sqlite }) =>
        sqlite.prepare(`select g.status, t.status as hold from generations g join transactions t on t.id = g.hold_id where g.user_id = ?`).get(userId),
      );
      if ((row as { status: string }).status !== "running" || Date.now() > settleBy) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(row).toEqual({ status: "failed", hold: "voided" });
    expect(await balanceOf(client)).toMatchObject({ balance: 100, onHold: 0 });
    expectLedgerClean();
  });
});
