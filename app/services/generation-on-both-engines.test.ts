// Generation on SQLite and on a real PostgreSQL (decision 036): the same service, the same SQL
// text, the same money rules. A failed generation costs nothing (its hold voided once); parallel
// requests spend exactly what the balance allows; the video worker's claim is taken once however
// many workers race for it, and a job whose lease ran out (a killed instance) is taken over once.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { closeEngines, ENGINES, insertUserOn, type EngineDb } from "../../tests/support/engines";
import { listRecentGenerations } from "./admin/user-generations.server";
import { parseEnv, type RawEnv } from "./env.server";
import { findGeneration } from "./generation-job-reads.server";
import { failGeneration, openGeneration, type OpenArgs } from "./generation-job-writes.server";
import { createGenerationService, type GenerationService } from "./generation.server";
import { readBalance } from "./money/ledger-reads.server";
import { sweepExpiredHolds } from "./money/ledger.server";
import { readCounter } from "./metrics.server";
import { createLocalProvider } from "./providers/local.server";
import { ProviderError, type GenerationProvider } from "./providers/types";

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "generation-engines-"));
afterAll(async () => {
  await closeEngines();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

const quiet = { info: () => {}, warn: () => {}, error: () => {} };
const local = createLocalProvider({ videoDurationMs: 30 });
const stub = (overrides: Partial<GenerationProvider>): GenerationProvider => ({ ...local, name: "stub", ...overrides });
const video = (prompt: string) => ({ prompt, resolution: "720p" as const, durationSeconds: 8 });

describe.each(ENGINES)("generation on $name", (engine) => {
  let db: EngineDb;
  let n = 0;
  const services: GenerationService[] = [];
  beforeAll(async () => {
    db = await engine.open();
  }, 60_000);
  afterEach(async () => {
    for (const s of services.splice(0)) await s.stop();
    // Each test starts with no unfinished job: a worker's scan takes any job nobody holds.
    const left = await db.sql.all<{ id: string }>("SELECT id FROM generations WHERE status IN ('queued', 'running')");
    for (const { id } of left) await failGeneration(db, id, "test over", "test", Date.now());
  });

  const newUser = (credits: number) => insertUserOn(db, `gen-${++n}-${engine.name.toLowerCase()}@example.com`, "user", credits);

  function service(opts: { provider?: GenerationProvider; env?: Partial<Record<keyof RawEnv, string>>; leaseMs?: number } = {}) {
    const s = createGenerationService({
      db,
      config: parseEnv({ DATA_DIR: dataDir, RATE_LIMIT_DISABLED: "1", ...opts.env }),
      provider: opts.provider ?? local,
      log: quiet,
      pollIntervalMs: () => 5,
      videoLeaseMs: opts.leaseMs,
      videoScanIntervalMs: 0,
    });
    services.push(s);
    return s;
  }

  const one = async <T>(text: string, params: unknown[]) => (await db.sql.get<T>(text, params))!;

  /** credits == Σ live rows; posted usage == cost of succeeded jobs; a pending hold per unfinished job. */
  async function expectConsistent(userId: number) {
    const { credits } = await one<{ credits: number }>("SELECT credits FROM users WHERE id = ?", [userId]);
    const { live } = await one<{ live: number }>("SELECT coalesce(sum(amount), 0) AS live FROM transactions WHERE user_id = ? AND status IN ('pending', 'posted')", [userId]);
    expect(credits).toBe(live);
    expect(credits).toBeGreaterThanOrEqual(0);
    const { posted } = await one<{ posted: number }>("SELECT coalesce(sum(-amount), 0) AS posted FROM transactions WHERE user_id = ? AND type = 'usage' AND status = 'posted'", [userId]);
    const { charged } = await one<{ charged: number }>("SELECT coalesce(sum(cost), 0) AS charged FROM generations WHERE user_id = ? AND status = 'succeeded'", [userId]);
    expect(posted).toBe(charged);
    const { pending } = await one<{ pending: number }>("SELECT count(*) AS pending FROM transactions WHERE user_id = ? AND type = 'usage' AND status = 'pending'", [userId]);
    const { unfinished } = await one<{ unfinished: number }>("SELECT count(*) AS unfinished FROM generations WHERE user_id = ? AND status IN ('queued', 'running')", [userId]);
    expect(pending).toBe(unfinished);
  }

  const usageRows = (userId: number) =>
    db.sql.all<{ status: string; n: number }>("SELECT status, count(*) AS n FROM transactions WHERE user_id = ? AND type = 'usage' GROUP BY status ORDER BY status", [userId]);

  function openArgs(userId: number, prompt: string, extra: Partial<OpenArgs> = {}): OpenArgs {
    return {
      userId,
      kind: "video",
      prompt,
      options: { resolution: "720p", durationSeconds: 8 },
      cost: 10,
      provider: "local",
      status: "queued",
      holdTtlSeconds: 900,
      holdDescription: "Video generation",
      maxUnfinishedVideos: null,
      now: Date.now(),
      ...extra,
    };
  }

  async function openVideos(userId: number, count: number, prefix: string): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < count; i++) {
      const opened = await openGeneration(db, openArgs(userId, `${prefix} ${i}`));
      if (!opened.ok) throw new Error(`open refused: ${opened.reason}`);
      ids.push(opened.job.id);
    }
    return ids;
  }

  it("a failed image costs nothing: its hold is voided, once", async () => {
    const userId = await newUser(20);
    const s = service({ provider: stub({ generateImage: async () => Promise.reject(new ProviderError("unavailable", "HTTP 503", { status: 503 })) }) });
    const result = await s.generateImage(userId, { prompt: "a lighthouse", size: "256x256" });
    expect(result.ok && result.job).toMatchObject({ status: "failed", hold: "voided", resultUrl: null });
    expect(result.ok && result.balance).toBe(20);
    expect(await usageRows(userId)).toEqual([{ status: "voided", n: 1 }]);
    // Failing it again (a late reconciler, a second worker) changes nothing.
    const id = result.ok ? result.job.id : "";
    const again = await failGeneration(db, id, "again", "again", Date.now());
    expect(again).toMatchObject({ status: "failed", error: expect.stringMatching(/unavailable right now/) });
    expect(await readBalance(db, userId)).toMatchObject({ balance: 20, onHold: 0 });
    await expectConsistent(userId);
  });

  it("20 parallel enders of one job: it fails once, its hold voided once, nothing charged", async () => {
    const userId = await newUser(50);
    const [id] = await openVideos(userId, 1, "ended");
    expect(await readBalance(db, userId)).toMatchObject({ balance: 40, onHold: 10 });
    const before = readCounter("generations_total", { kind: "video", status: "failed" });
    const ended = await Promise.all(Array.from({ length: 20 }, (_, i) => failGeneration(db, id!, `ender ${i}`, "test", Date.now())));
    expect(new Set(ended.map((j) => j?.error)).size).toBe(1); // every caller sees the one failure
    expect(ended.every((j) => j?.status === "failed")).toBe(true);
    expect(readCounter("generations_total", { kind: "video", status: "failed" })).toBe(before + 1);
    expect(await usageRows(userId)).toEqual([{ status: "voided", n: 1 }]);
    expect(await readBalance(db, userId)).toMatchObject({ balance: 50, onHold: 0 });
    await expectConsistent(userId);
  });

  it("30 parallel images from 100 credits at cost 10: exactly 10 succeed, the balance ends at 0, never below", async () => {
    const userId = await newUser(100);
    const s = service({ env: { IMAGE_COST: "10" } });
    const results = await Promise.all(Array.from({ length: 30 }, (_, i) => s.generateImage(userId, { prompt: `p${i}`, size: "256x256" })));
    const succeeded = results.filter((r) => r.ok && r.job.status === "succeeded");
    const refused = results.filter((r) => !r.ok);
    expect(succeeded).toHaveLength(10);
    expect(refused).toHaveLength(20);
    expect(refused.every((r) => !r.ok && r.reason === "insufficient_credits")).toBe(true);
    expect(await readBalance(db, userId)).toMatchObject({ balance: 0, onHold: 0 });
    expect(await usageRows(userId)).toEqual([{ status: "posted", n: 10 }]);
    expect((await one<{ n: number }>("SELECT count(*) AS n FROM generations WHERE user_id = ?", [userId])).n).toBe(10);
    await expectConsistent(userId);
  });

  it("20 parallel requests with one Idempotency-Key: one job, one hold, 19 replays", async () => {
    const userId = await newUser(100);
    const s = service({ env: { IMAGE_COST: "10" } });
    const results = await Promise.all(Array.from({ length: 20 }, () => s.generateImage(userId, { prompt: "same", size: "256x256" }, { requestKey: "k-1" })));
    expect(results.every((r) => r.ok)).toBe(true);
    expect(new Set(results.map((r) => (r.ok ? r.job.id : ""))).size).toBe(1);
    expect(results.filter((r) => r.ok && !r.replayed)).toHaveLength(1);
    expect((await one<{ n: number }>("SELECT count(*) AS n FROM transactions WHERE user_id = ? AND type = 'usage'", [userId])).n).toBe(1);
    expect(await readBalance(db, userId)).toMatchObject({ balance: 90, onHold: 0 });
    await expectConsistent(userId);
  });

  it("the running-videos limit holds under 20 parallel opens: exactly 2 open, the rest refused and charged nothing", async () => {
    const userId = await newUser(1000);
    const opened = await Promise.all(Array.from({ length: 20 }, (_, i) => openGeneration(db, openArgs(userId, `v${i}`, { maxUnfinishedVideos: 2 }))));
    expect(opened.filter((o) => o.ok)).toHaveLength(2);
    expect(opened.filter((o) => !o.ok && o.reason === "too_many_running")).toHaveLength(18);
    expect(await readBalance(db, userId)).toMatchObject({ balance: 980, onHold: 20 });
    await expectConsistent(userId);
  });

  it("a refused flagged account changes nothing", async () => {
    const userId = await newUser(100);
    await db.sql.run("UPDATE users SET flagged_at = ?, flagged_reason = 'dispute' WHERE id = ?", [Date.now(), userId]);
    expect(await openGeneration(db, openArgs(userId, "flagged"))).toEqual({ ok: false, reason: "account_flagged" });
    expect(await usageRows(userId)).toEqual([]);
  });

  it("two workers racing for 10 video jobs: each job is claimed once", async () => {
    const userId = await newUser(1000);
    const ids = await openVideos(userId, 10, "race");
    const [a, b] = [service(), service()];
    const claims = await Promise.all(Array.from({ length: 24 }, (_, i) => (i % 2 ? a : b).worker.claimNext()));
    const won = claims.filter((c) => c !== undefined);
    expect(won).toHaveLength(10);
    expect(new Set(won.map((c) => c.id))).toEqual(new Set(ids));
    const owners = await db.sql.all<{ id: string; owner: string }>(`SELECT id, lease_owner AS owner FROM generations WHERE user_id = ? ORDER BY id`, [userId]);
    for (const row of owners) expect(row.owner).toBe(won.find((c) => c.id === row.id)!.leaseOwner);
    // Held: neither worker (nor a third) can take any of them now.
    expect(await service().worker.claimNext()).toBeUndefined();
    const owner = won.find((c) => c.id === ids[0])!.leaseOwner;
    const [mine, theirs] = owner === a.worker.id ? [a, b] : [b, a];
    expect(await theirs.worker.claim(ids[0]!)).toBeUndefined();
    expect((await mine.worker.claim(ids[0]!))?.leaseOwner).toBe(mine.worker.id); // its own claim, renewed
  });

  it("two workers scanning for 10 queued videos run each once: 10 charges, no job started twice", async () => {
    const userId = await newUser(1000);
    const ids = await openVideos(userId, 10, "scan");
    const starts = new Map<string, number>();
    const counting = stub({
      startVideo: async (req, opts) => {
        starts.set(req.prompt, (starts.get(req.prompt) ?? 0) + 1);
        return local.startVideo(req, opts);
      },
    });
    const env = { VIDEO_CONCURRENCY: "10" };
    const [a, b] = [service({ provider: counting, env }), service({ provider: counting, env })];
    const [ranA, ranB] = await Promise.all([a.worker.scan(), b.worker.scan()]);
    expect(ranA + ranB).toBe(10);
    await Promise.all([a.worker.idle(), b.worker.idle()]);
    expect([...starts.values()]).toEqual(Array(10).fill(1));
    for (const id of ids) expect(await findGeneration(db, id)).toMatchObject({ status: "succeeded", leaseOwner: null });
    expect(await usageRows(userId)).toEqual([{ status: "posted", n: 10 }]);
    expect(await readBalance(db, userId)).toMatchObject({ balance: 900, onHold: 0 });
    await expectConsistent(userId);
  });

  it("a job whose worker was killed is taken over once its lease expires, and charged once", async () => {
    const userId = await newUser(1000);
    const [queuedId, runningId] = await openVideos(userId, 2, "orphan");
    const { providerJobId } = await local.startVideo(video("orphan 1"));
    await db.sql.run("UPDATE generations SET status = 'running', provider_job_id = ? WHERE id = ?", [providerJobId, runningId]);
    // The "killed" worker claims both and never runs them (nor releases them: no stop()).
    const dead = createGenerationService({ db, config: parseEnv({ DATA_DIR: dataDir, RATE_LIMIT_DISABLED: "1" }), provider: local, log: quiet, videoLeaseMs: 300, videoScanIntervalMs: 0 });
    const held = [await dead.worker.claimNext(), await dead.worker.claimNext()];
    expect(new Set(held.map((j) => j?.id))).toEqual(new Set([queuedId, runningId]));
    const starts: string[] = [];
    const counting = stub({ startVideo: async (req, opts) => (starts.push(req.prompt), local.startVideo(req, opts)) });
    const env = { VIDEO_CONCURRENCY: "5" };
    const [a, b, c] = [service({ provider: counting, env }), service({ provider: counting, env }), service({ provider: counting, env })];
    // Still held: nobody takes them over.
    expect(await Promise.all([a.worker.scan(), b.worker.scan()])).toEqual([0, 0]);
    await new Promise((r) => setTimeout(r, 350));
    // Three live workers race for the two expired leases (scan() of one worker is one pass at a time).
    const taken = await Promise.all([a.worker.scan(), b.worker.scan(), c.worker.scan()]);
    expect(taken.reduce((x, y) => x + y, 0)).toBe(2);
    await Promise.all([a.worker.idle(), b.worker.idle(), c.worker.idle()]);
    expect(starts).toEqual(["orphan 0"]); // the running one was polled again, not started twice
    expect(await findGeneration(db, queuedId!)).toMatchObject({ status: "succeeded" });
    expect(await findGeneration(db, runningId!)).toMatchObject({ status: "succeeded", providerJobId });
    expect(await usageRows(userId)).toEqual([{ status: "posted", n: 2 }]);
    expect(await readBalance(db, userId)).toMatchObject({ balance: 980, onHold: 0 });
    await expectConsistent(userId);
    // The dead worker's renewal finds the job gone from it: it would leave it alone.
    expect(await dead.worker.claim(queuedId!)).toBeUndefined();
  });

  it("a live worker's heartbeat keeps its lease through a long provider call: nobody takes the job over", async () => {
    const userId = await newUser(100);
    let starts = 0;
    const slow = stub({
      startVideo: async (req, opts) => {
        starts++;
        await new Promise((r) => setTimeout(r, 500)); // more than three leases long
        return local.startVideo(req, opts);
      },
    });
    const a = service({ provider: slow, leaseMs: 150 });
    const b = service({ provider: slow, leaseMs: 150 });
    const started = await a.startVideo(userId, video("long call"));
    const id = started.ok ? started.job.id : "";
    await new Promise((r) => setTimeout(r, 350));
    expect(await b.worker.scan()).toBe(0);
    expect(await b.worker.claim(id)).toBeUndefined();
    await a.worker.idle();
    expect(starts).toBe(1);
    expect(await findGeneration(db, id)).toMatchObject({ status: "succeeded", leaseOwner: null });
    expect(await readBalance(db, userId)).toMatchObject({ balance: 50, onHold: 0 });
    await expectConsistent(userId);
  });

  it("start-up leaves a job another worker holds to it on PostgreSQL; on SQLite (one process per file) that worker is dead", async () => {
    const userId = await newUser(100);
    const [id] = await openVideos(userId, 1, "held");
    const other = createGenerationService({ db, config: parseEnv({ DATA_DIR: dataDir, RATE_LIMIT_DISABLED: "1" }), provider: local, log: quiet, videoScanIntervalMs: 0 });
    expect((await other.worker.claim(id!))?.leaseOwner).toBe(other.worker.id);
    const s = service();
    if (engine.name === "PostgreSQL") {
      expect(await s.start()).toEqual({ resumed: 0, failed: 0 });
      expect(await findGeneration(db, id!)).toMatchObject({ status: "queued", leaseOwner: other.worker.id });
    } else {
      expect(await s.start()).toEqual({ resumed: 1, failed: 0 });
      await s.worker.idle();
      expect(await findGeneration(db, id!)).toMatchObject({ status: "succeeded", leaseOwner: null });
      expect(await readBalance(db, userId)).toMatchObject({ balance: 90, onHold: 0 });
    }
    await expectConsistent(userId);
  });

  it("a clean stop releases the worker's leases: the next start resumes the job at once", async () => {
    const userId = await newUser(100);
    let gate!: () => void;
    const opened = new Promise<void>((r) => (gate = r));
    const first = service({ provider: stub({ startVideo: async () => ({ providerJobId: "remote-stop" }), getVideo: async () => (gate(), { status: "in_progress", progress: 40 }) }) });
    const started = await first.startVideo(userId, video("stopped"));
    const id = started.ok ? started.job.id : "";
    await opened;
    await first.stop();
    expect(await findGeneration(db, id)).toMatchObject({ status: "running", providerJobId: "remote-stop", leaseOwner: null });
    const second = service({ provider: stub({ getVideo: async () => ({ status: "completed", progress: 100 }), downloadVideo: async () => ({ data: Buffer.from("x"), mimeType: "video/mp4", extension: "mp4" }) }) });
    expect(await second.start()).toEqual({ resumed: 1, failed: 0 });
    await second.worker.idle();
    expect(await second.getJob(userId, id)).toMatchObject({ status: "succeeded", hold: "posted" });
    expect(await readBalance(db, userId)).toMatchObject({ balance: 50, onHold: 0 });
    await expectConsistent(userId);
  });

  it("the sweeper's hook fails the job of an expired hold on the sweep's own transaction", async () => {
    const userId = await newUser(100);
    const s = service();
    const [id] = await openVideos(userId, 1, "expiring");
    const voided = await sweepExpiredHolds(db.sql, Date.now() + 901_000, { onVoided: (hold, tx) => s.onHoldVoided(hold, tx) });
    expect(voided).toBeGreaterThanOrEqual(1);
    expect(await findGeneration(db, id!)).toMatchObject({ status: "failed", error: expect.stringMatching(/hold expired/) });
    expect(await readBalance(db, userId)).toMatchObject({ balance: 100, onHold: 0 });
    await expectConsistent(userId);
  });

  it("the reconciler fails a job whose hold was voided behind its back", async () => {
    const userId = await newUser(100);
    const s = service();
    const [id] = await openVideos(userId, 1, "behind");
    const { holdId } = (await findGeneration(db, id!))!;
    await db.sql.write(async (tx) => {
      const { voidHold } = await import("./money/ledger.server");
      await voidHold(tx, holdId!, "expired");
    });
    expect(await s.reconcile()).toMatchObject({ failed: 1, postedUnfinished: 0 });
    expect(await findGeneration(db, id!)).toMatchObject({ status: "failed", error: expect.stringMatching(/hold expired/) });
    await expectConsistent(userId);
  });

  it("reads: only the owner's jobs, newest first in pages, deletion hidden; the admin sees all, deleted marked", async () => {
    const owner = await newUser(100);
    const other = await newUser(100);
    const s = service();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await s.generateImage(owner, { prompt: `n${i}`, size: "256x256" });
      ids.push(r.ok ? r.job.id : "");
    }
    expect(await s.getJob(other, ids[0]!)).toBeUndefined();
    const page1 = await s.listJobs(owner, { limit: 3 });
    expect(page1.items.map((j) => j.prompt)).toEqual(["n4", "n3", "n2"]);
    const page2 = await s.listJobs(owner, { limit: 3, before: page1.nextBefore });
    expect(page2.items.map((j) => j.prompt)).toEqual(["n1", "n0"]);
    expect(page2.nextBefore).toBeNull();
    expect(await s.deleteJob(owner, ids[4]!)).toEqual({ ok: true });
    expect(await s.deleteJob(owner, ids[4]!)).toEqual({ ok: false, reason: "not_found" });
    expect((await s.listJobs(owner, { limit: 10 })).items).toHaveLength(4);
    expect(await s.listUnfinished(owner)).toEqual([]);
    const admin = await listRecentGenerations(db, owner, 3);
    expect(admin.total).toBe(5);
    expect(admin.rows.map((r) => [r.prompt, r.hasFile, r.deletedAt === null])).toEqual([
      ["n4", false, false],
      ["n3", true, true],
      ["n2", true, true],
    ]);
    expect(admin.rows[1]).toMatchObject({ kind: "image", status: "succeeded", cost: 5, mimeType: "image/png", error: null, createdAt: expect.any(Number) });
  });
});
