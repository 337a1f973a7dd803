import fs from "node:fs";
import path from "node:path";
import fc from "fast-check";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createTestDb, insertUser } from "../../tests/support/db";
import { getBalance, grant, sweepExpiredHolds } from "./money/ledger.server";
import { parseEnv, type RawEnv } from "./env.server";
import { createGenerationService, type GenerationService } from "./generation.server";
import { generationCosts } from "./money/pricing.server";
import { findGeneration } from "./generation-job-reads.server";
import { readHoldStatus } from "./money/ledger-reads.server";
import { readCounter } from "./metrics.server";
import { createLocalProvider } from "./providers/local.server";
import { ProviderError, type GenerationProvider, type VideoJobState } from "./providers/types";
import { buffer as streamBytes } from "node:stream/consumers";

type TestDb = ReturnType<typeof createTestDb>;

let db: TestDb;
const services: GenerationService[] = [];
let emails = 0;

beforeEach(async () => {
  db = createTestDb();
});

afterEach(async () => {
  for (const s of services.splice(0)) await s.stop();
  db.remove();
});

const quiet = { info: () => {}, warn: () => {}, error: () => {} };

function configFor(env: Partial<Record<keyof RawEnv, string>> = {}) {
  return parseEnv({ DATA_DIR: db.dir, RATE_LIMIT_DISABLED: "1", ...env });
}

function service(opts: { provider?: GenerationProvider; env?: Partial<Record<keyof RawEnv, string>>; now?: () => number } = {}) {
  const s = createGenerationService({
    db,
    config: configFor(opts.env),
    provider: opts.provider ?? createLocalProvider({ videoDurationMs: 30 }),
    log: quiet,
    pollIntervalMs: () => 5,
    now: opts.now,
  });
  services.push(s);
  return s;
}

async function userWith(credits: number): Promise<number> {
  const userId = insertUser(db, `u${++emails}@example.com`);
  if (credits > 0) await grant(db, { userId, amount: credits, type: "bonus", key: `seed:${userId}`, description: "seed" });
  return userId;
}

function balanceOf(userId: number) {
  return getBalance(db, userId);
}

/** The ledger invariant, and what generation adds to it: posted usage == cost of succeeded jobs. */
function expectConsistent(userId: number) {
  const credits = (db.sqlite.prepare("select credits from users where id = ?").get(userId) as { credits: number }).credits;
  const sum = (
    db.sqlite.prepare("select coalesce(sum(amount), 0) as s from transactions where user_id = ? and status in ('pending','posted')").get(userId) as { s: number }
  ).s;
  expect(credits).toBe(sum);
  const posted = (
    db.sqlite.prepare("select coalesce(sum(-amount), 0) as s from transactions where user_id = ? and type = 'usage' and status = 'posted'").get(userId) as { s: number }
  ).s;
  const charged = (
    db.sqlite.prepare("select coalesce(sum(cost), 0) as s from generations where user_id = ? and status = 'succeeded'").get(userId) as { s: number }
  ).s;
  expect(posted).toBe(charged);
  const pendingHolds = (
    db.sqlite.prepare("select count(*) as n from transactions where user_id = ? and type = 'usage' and status = 'pending'").get(userId) as { n: number }
  ).n;
  const unfinished = (
    db.sqlite.prepare("select count(*) as n from generations where user_id = ? and status in ('queued','running')").get(userId) as { n: number }
  ).n;
  expect(pendingHolds).toBe(unfinished);
}

function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => e.name);
}

/** A provider whose every verb can be replaced; the rest behave like the local one. */
function stubProvider(overrides: Partial<GenerationProvider>): GenerationProvider {
  return { ...createLocalProvider({ videoDurationMs: 30 }), name: "stub", ...overrides };
}

const image = (prompt = "a lighthouse at dusk") => ({ prompt, size: "256x256" as const });
// 8 s: the length VIDEO_COST (50) and the 1080p price (100) are for, so the figures below read as
// the configured prices; the pro-rata rule itself is tested in pricing.server.test.ts and over HTTP.
const video = (prompt = "waves", resolution: "720p" | "1080p" = "720p") => ({ prompt, resolution, durationSeconds: 8 });

describe("costs", () => {
  it("a 1080p video costs VIDEO_COST_1080P, by default twice VIDEO_COST", () => {
    expect(generationCosts(configFor({ IMAGE_COST: "7", VIDEO_COST: "40" }))).toEqual({ image: 7, video: { "720p": 40, "1080p": 80 } });
    expect(generationCosts(configFor({ VIDEO_COST: "40", VIDEO_COST_1080P: "55" })).video["1080p"]).toBe(55);
  });
});

describe("images", () => {
  it("a success posts the hold, stores the file under DATA_DIR and charges exactly the cost", async () => {
    const userId = await userWith(20);
    const s = service();
    const before = readCounter("generations_total", { kind: "image", status: "succeeded" });
    const result = await s.generateImage(userId, image());
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.job).toMatchObject({ status: "succeeded", cost: 5, hold: "posted", progress: 100, mimeType: "image/png" });
    expect(result.job.resultUrl).toBe(`/generations/${result.job.id}/file`);
    expect(result.balance).toBe(15);
    expect(balanceOf(userId)).toMatchObject({ balance: 15, onHold: 0 });
    const row = (await findGeneration(db, result.job.id))!;
    expect(row.resultPath).toBe(`generations/${userId}/${row.id}.png`);
    const bytes = fs.readFileSync(path.join(db.dir, row.resultPath!));
    expect(bytes.subarray(1, 4).toString("latin1")).toBe("PNG");
    expect(filesUnder(path.join(db.dir, "generations")).filter((n) => n.endsWith(".tmp"))).toEqual([]);
    expect(await readHoldStatus(db, row.holdId!)).toBe("posted");
    expect(readCounter("generations_total", { kind: "image", status: "succeeded" })).toBe(before + 1);
    expectConsistent(userId);
  });

  it("a provider error voids the hold: the job is failed and nothing is charged", async () => {
    const userId = await userWith(20);
    const s = service({
      provider: stubProvider({
        generateImage: async () => {
          throw new ProviderError("unavailable", "HTTP 503", { status: 503 });
        },
      }),
    });
    const result = await s.generateImage(userId, image());
    expect(result.ok && result.job).toMatchObject({ status: "failed", hold: "voided", resultUrl: null });
    expect(result.ok && result.job.error).toMatch(/unavailable right now \(HTTP 503\)/);
    expect(balanceOf(userId)).toMatchObject({ balance: 20, onHold: 0 });
    expect(filesUnder(path.join(db.dir, "generations"))).toEqual([]);
    expectConsistent(userId);
  });

  it("a provider that never answers is cut off by GENERATION_TIMEOUT_SECONDS and costs nothing", async () => {
    const userId = await userWith(20);
    const hung = stubProvider({
      generateImage: (_req, opts) =>
        new Promise((_resolve, reject) => {
          opts?.signal?.addEventListener("abort", () => reject(new ProviderError("timeout", "timed out")));
        }),
    });
    const s = service({ provider: hung, env: { GENERATION_TIMEOUT_SECONDS: "1" } });
    const started = Date.now();
    const result = await s.generateImage(userId, image());
    expect(Date.now() - started).toBeLessThan(3000);
    expect(result.ok && result.job).toMatchObject({ status: "failed", hold: "voided", error: "The generator did not answer in time." });
    expect(balanceOf(userId).balance).toBe(20);
  });

  it("an unexpected exception (not a ProviderError) is still a failed job that costs nothing", async () => {
    const userId = await userWith(20);
    const s = service({
      provider: stubProvider({
        generateImage: async () => {
          throw new TypeError("boom");
        },
      }),
    });
    const result = await s.generateImage(userId, image());
    expect(result.ok && result.job).toMatchObject({ status: "failed", error: "The job failed because of an internal error." });
    expect(balanceOf(userId).balance).toBe(20);
    expectConsistent(userId);
  });

  it("a hold the sweeper voided meanwhile is never posted: the job fails and its file is removed", async () => {
    const userId = await userWith(20);
    const local = createLocalProvider({ videoDurationMs: 0 });
    const s = service({
      provider: stubProvider({
        generateImage: async (req) => {
          // The hold's timeout passes while the provider works (GENERATION_HOLD_TTL_SECONDS=10).
          await sweepExpiredHolds(db, Date.now() + 11_000);
          return local.generateImage(req);
        },
      }),
      env: { GENERATION_HOLD_TTL_SECONDS: "10", GENERATION_TIMEOUT_SECONDS: "5" },
    });
    const result = await s.generateImage(userId, image());
    expect(result.ok && result.job).toMatchObject({ status: "failed", hold: "voided" });
    expect(result.ok && result.job.error).toMatch(/hold expired/);
    expect(balanceOf(userId)).toMatchObject({ balance: 20, onHold: 0 });
    expect(filesUnder(path.join(db.dir, "generations"))).toEqual([]);
    expectConsistent(userId);
  });

  it("too little credit is refused (402) and changes nothing: no job, no ledger row", async () => {
    const userId = await userWith(4);
    const result = await service().generateImage(userId, image());
    expect(result).toMatchObject({ ok: false, reason: "insufficient_credits", balance: 4, needed: 5 });
    expect(db.sqlite.prepare("select count(*) as n from generations").get()).toEqual({ n: 0 });
    expect(db.sqlite.prepare("select count(*) as n from transactions where type = 'usage'").get()).toEqual({ n: 0 });
  });

  it("a flagged account is refused and changes nothing", async () => {
    const userId = await userWith(100);
    db.sqlite.prepare("update users set flagged_at = ?, flagged_reason = 'dispute' where id = ?").run(Date.now(), userId);
    const s = service();
    expect(await s.generateImage(userId, image())).toMatchObject({ ok: false, reason: "account_flagged" });
    expect(await s.startVideo(userId, video())).toMatchObject({ ok: false, reason: "account_flagged" });
    expect(balanceOf(userId)).toMatchObject({ balance: 100, onHold: 0 });
  });

  it("many concurrent requests on a small balance succeed exactly as far as it goes", async () => {
    const userId = await userWith(23);
    let inFlight = 0;
    let maxInFlight = 0;
    const local = createLocalProvider({ videoDurationMs: 0 });
    const s = service({
      provider: stubProvider({
        generateImage: async (req) => {
          maxInFlight = Math.max(maxInFlight, ++inFlight);
          await new Promise((r) => setTimeout(r, 20));
          inFlight--;
          return local.generateImage(req);
        },
      }),
    });
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => s.generateImage(userId, image(`p${i}`))));
    const ok = results.filter((r) => r.ok && r.job.status === "succeeded");
    const refused = results.filter((r) => !r.ok && r.reason === "insufficient_credits");
    expect(ok).toHaveLength(4);
    expect(refused).toHaveLength(16);
    expect(maxInFlight).toBe(4); // the holds were placed before any provider call finished
    expect(balanceOf(userId)).toMatchObject({ balance: 3, onHold: 0 });
    expectConsistent(userId);
  });

  it("property: whatever mix of successes and failures, the balance is the start minus the successes", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.boolean(), { minLength: 1, maxLength: 8 }), fc.integer({ min: 0, max: 40 }), async (outcomes, start) => {
        const userId = await userWith(start);
        const local = createLocalProvider({ videoDurationMs: 0 });
        const s = service({
          provider: stubProvider({
            generateImage: async (req) => {
              if (req.prompt.startsWith("bad")) throw new ProviderError("rejected", "no");
              return local.generateImage(req);
            },
          }),
        });
        const results = await Promise.all(outcomes.map((good, i) => s.generateImage(userId, { prompt: `${good ? "good" : "bad"} ${i}`, size: "256x256" })));
        const succeeded = results.filter((r) => r.ok && r.job.status === "succeeded").length;
        expect(balanceOf(userId)).toMatchObject({ balance: (start || 0) - 5 * succeeded, onHold: 0 });
        expect(succeeded).toBeLessThanOrEqual(Math.floor(start / 5));
        expectConsistent(userId);
      }),
      { numRuns: 25 },
    );
  });
});

describe("rate limits", () => {
  it("N images a minute per user; a refused request spends nothing; another user is not affected", async () => {
    const a = await userWith(100);
    const b = await userWith(100);
    const s = service({ env: { RATE_LIMIT_DISABLED: "0", RATE_LIMIT_IMAGES_PER_MINUTE: "2" } });
    expect((await s.generateImage(a, image())).ok).toBe(true);
    expect((await s.generateImage(a, image())).ok).toBe(true);
    const third = await s.generateImage(a, image());
    expect(third).toMatchObject({ ok: false, reason: "rate_limited" });
    expect(!third.ok && third.reason === "rate_limited" && third.retryAfterSeconds).toBeGreaterThan(0);
    expect(balanceOf(a).balance).toBe(90);
    expect((await s.generateImage(b, image())).ok).toBe(true);
  });

  it("a request refused for credit gives its rate-limit point back", async () => {
    const poor = await userWith(5);
    const s = service({ env: { RATE_LIMIT_DISABLED: "0", RATE_LIMIT_IMAGES_PER_MINUTE: "2" } });
    expect(await s.generateImage(poor, image())).toMatchObject({ ok: true });
    expect(await s.generateImage(poor, image())).toMatchObject({ ok: false, reason: "insufficient_credits" });
    await grant(db, { userId: poor, amount: 5, type: "bonus", key: `more:${poor}`, description: "more" });
    expect(await s.generateImage(poor, image())).toMatchObject({ ok: true });
  });

  it("at most RATE_LIMIT_RUNNING_VIDEOS unfinished videos per user; a refusal spends nothing", async () => {
    const userId = await userWith(500);
    const slow = createLocalProvider({ videoDurationMs: 60_000 });
    const s = service({ provider: slow, env: { RATE_LIMIT_DISABLED: "0", RATE_LIMIT_RUNNING_VIDEOS: "1", RATE_LIMIT_VIDEOS_PER_MINUTE: "10" } });
    expect(await s.startVideo(userId, video())).toMatchObject({ ok: true });
    const second = await s.startVideo(userId, video());
    expect(second).toMatchObject({ ok: false, reason: "rate_limited" });
    expect(!second.ok && second.message).toMatch(/1 video in progress/);
    expect(balanceOf(userId)).toMatchObject({ balance: 450, onHold: 50 });
  });

  it("the running-videos check is atomic with the hold: simultaneous requests cannot both pass", async () => {
    const userId = await userWith(500);
    const s = service({
      provider: createLocalProvider({ videoDurationMs: 60_000 }),
      env: { RATE_LIMIT_DISABLED: "0", RATE_LIMIT_RUNNING_VIDEOS: "2", RATE_LIMIT_VIDEOS_PER_MINUTE: "100" },
    });
    const results = await Promise.all(Array.from({ length: 6 }, () => s.startVideo(userId, video())));
    expect(results.filter((r) => r.ok)).toHaveLength(2);
    expect(balanceOf(userId)).toMatchObject({ balance: 400, onHold: 100 });
  });
});

describe("videos", () => {
  it("queued → running → succeeded: the file is stored, the hold posted, the progress reported", async () => {
    const userId = await userWith(200);
    const s = service({ provider: createLocalProvider({ videoDurationMs: 60 }) });
    const started = await s.startVideo(userId, video("a slow river", "1080p"));
    expect(started.ok).toBe(true);
    if (!started.ok) return;
    expect(started.job).toMatchObject({ kind: "video", cost: 100, hold: "pending" });
    expect(["queued", "running"]).toContain(started.job.status);
    expect(balanceOf(userId)).toMatchObject({ balance: 100, onHold: 100 });
    await s.worker.idle();
    const done = (await s.getJob(userId, started.job.id))!;
    expect(done).toMatchObject({ status: "succeeded", hold: "posted", mimeType: "image/gif", progress: 100 });
    const file = await s.resultFile({ userId, admin: false }, done.id);
    expect(file?.size).toBeGreaterThan(1000);
    expect((await streamBytes(await file!.read())).subarray(0, 3).toString("latin1")).toBe("GIF");
    expect(balanceOf(userId)).toMatchObject({ balance: 100, onHold: 0 });
    expectConsistent(userId);
  });

  it("a video the provider reports failed costs nothing", async () => {
    const userId = await userWith(100);
    const s = service({ provider: createLocalProvider({ videoDurationMs: 40 }) });
    const started = await s.startVideo(userId, video("storm [fail]"));
    await s.worker.idle();
    const job = (await s.getJob(userId, started.ok ? started.job.id : ""))!;
    expect(job).toMatchObject({ status: "failed", hold: "voided" });
    expect(job.error).toMatch(/^The video failed: .*\[fail\]/);
    expect(balanceOf(userId)).toMatchObject({ balance: 100, onHold: 0 });
    expectConsistent(userId);
  });

  it("a provider that refuses to start the video costs nothing", async () => {
    const userId = await userWith(100);
    const s = service({
      provider: stubProvider({
        startVideo: async () => {
          throw new ProviderError("rejected", "HTTP 400: size not supported", { status: 400 });
        },
      }),
    });
    const started = await s.startVideo(userId, video());
    await s.worker.idle();
    expect(await s.getJob(userId, started.ok ? started.job.id : "")).toMatchObject({ status: "failed", hold: "voided" });
    expect(balanceOf(userId).balance).toBe(100);
  });

  it("brief poll failures are retried; a job the provider no longer knows fails and costs nothing", async () => {
    const userId = await userWith(200);
    let polls = 0;
    const flaky = stubProvider({
      startVideo: async () => ({ providerJobId: "remote-1" }),
      getVideo: async (): Promise<VideoJobState> => {
        polls++;
        if (polls <= 2) throw new ProviderError("unavailable", "HTTP 502", { status: 502 });
        return polls < 4 ? { status: "in_progress", progress: 40 } : { status: "completed", progress: 100 };
      },
      downloadVideo: async () => ({ data: Buffer.from("ftypisom fake"), mimeType: "video/mp4", extension: "mp4" }),
    });
    const s = service({ provider: flaky });
    const first = await s.startVideo(userId, video());
    await s.worker.idle();
    expect(await s.getJob(userId, first.ok ? first.job.id : "")).toMatchObject({ status: "succeeded", mimeType: "video/mp4" });

    const lost = stubProvider({
      startVideo: async () => ({ providerJobId: "remote-2" }),
      getVideo: async () => {
        throw new ProviderError("not_found", "HTTP 404");
      },
    });
    const s2 = service({ provider: lost });
    const second = await s2.startVideo(userId, video());
    await s2.worker.idle();
    expect(await s2.getJob(userId, second.ok ? second.job.id : "")).toMatchObject({ status: "failed", hold: "voided" });
    expect(balanceOf(userId)).toMatchObject({ balance: 150, onHold: 0 });
    expectConsistent(userId);
  });

  it("poll failures that last longer than GENERATION_TIMEOUT_SECONDS fail the job", async () => {
    const userId = await userWith(100);
    let clock = Date.now();
    const down = stubProvider({
      startVideo: async () => ({ providerJobId: "remote-3" }),
      getVideo: async () => {
        clock += 600; // each failing poll "takes" 0.6 s
        throw new ProviderError("unavailable", "network error");
      },
    });
    const s = service({ provider: down, env: { GENERATION_TIMEOUT_SECONDS: "2" }, now: () => clock });
    const started = await s.startVideo(userId, video());
    await s.worker.idle();
    expect(await s.getJob(userId, started.ok ? started.job.id : "")).toMatchObject({ status: "failed", hold: "voided" });
    expect(balanceOf(userId).balance).toBe(100);
  });

  it("at most VIDEO_CONCURRENCY videos run at once; the rest wait in the queue", async () => {
    let running = 0;
    let maxRunning = 0;
    const counting = stubProvider({
      startVideo: async () => {
        maxRunning = Math.max(maxRunning, ++running);
        return { providerJobId: `job-${Math.random()}` };
      },
      getVideo: async () => ({ status: "completed", progress: 100 }),
      downloadVideo: async () => {
        await new Promise((r) => setTimeout(r, 15));
        running--;
        return { data: Buffer.from("ftyp"), mimeType: "video/mp4", extension: "mp4" };
      },
    });
    const s = service({ provider: counting, env: { VIDEO_CONCURRENCY: "2" } });
    const users = await Promise.all(Array.from({ length: 5 }, () => userWith(50)));
    const started = await Promise.all(users.map((u) => s.startVideo(u, video())));
    expect(started.every((r) => r.ok)).toBe(true);
    expect(s.worker.stats.running).toBeLessThanOrEqual(2);
    await s.worker.idle();
    expect(maxRunning).toBe(2);
    for (const u of users) {
      expect(balanceOf(u)).toMatchObject({ balance: 0, onHold: 0 });
      expectConsistent(u);
    }
  });

  it("a hold that expires while the video renders is voided by the sweeper and never posted", async () => {
    const userId = await userWith(100);
    const s = service({ provider: createLocalProvider({ videoDurationMs: 300 }), env: { GENERATION_HOLD_TTL_SECONDS: "10", GENERATION_TIMEOUT_SECONDS: "5" } });
    const started = await s.startVideo(userId, video());
    await new Promise((r) => setTimeout(r, 40));
    expect(await sweepExpiredHolds(db, Date.now() + 11_000)).toBe(1);
    await s.worker.idle();
    const job = (await s.getJob(userId, started.ok ? started.job.id : ""))!;
    expect(job).toMatchObject({ status: "failed", hold: "voided" });
    expect(job.error).toMatch(/hold expired/);
    expect(balanceOf(userId)).toMatchObject({ balance: 100, onHold: 0 });
    expectConsistent(userId);
  });
});

describe("restarts", () => {
  /** Puts the database in the state a killed process leaves: a job and its pending hold. */
  async function leftBehind(kind: "image" | "video", state: { status: "queued" | "running"; providerJobId?: string }) {
    const userId = await userWith(100);
    const hung = { ...createLocalProvider({ videoDurationMs: 60_000 }), generateImage: () => new Promise<never>(() => {}) };
    const before = service({ provider: hung });
    if (kind === "image") void before.generateImage(userId, image());
    else await before.startVideo(userId, video());
    await new Promise((r) => setTimeout(r, 10));
    const row = db.sqlite.prepare("select id from generations where user_id = ?").get(userId) as { id: string };
    // Stop the old worker without touching the row, then force the row into the crash state.
    await before.stop();
    db.sqlite
      .prepare("update generations set status = ?, provider_job_id = ?, progress = 0 where id = ?")
      .run(state.status, state.providerJobId ?? null, row.id);
    return { userId, id: row.id };
  }

  it("an image interrupted by a crash fails and gives its credits back; a half-written file is removed", async () => {
    const { userId, id } = await leftBehind("image", { status: "running" });
    const tmp = path.join(db.dir, "generations", String(userId), `${id}.png.abcd.tmp`);
    fs.mkdirSync(path.dirname(tmp), { recursive: true });
    fs.writeFileSync(tmp, "half");
    expect(balanceOf(userId)).toMatchObject({ balance: 95, onHold: 5 });
    const s = service();
    expect(await s.start()).toEqual({ resumed: 0, failed: 1 });
    expect(await s.getJob(userId, id)).toMatchObject({ status: "failed", hold: "voided" });
    expect(balanceOf(userId)).toMatchObject({ balance: 100, onHold: 0 });
    expect(fs.existsSync(tmp)).toBe(false);
    expectConsistent(userId);
  });

  it("a video that crashed before the provider accepted it (no provider id) fails and costs nothing", async () => {
    const { userId, id } = await leftBehind("video", { status: "running" });
    const s = service();
    expect(await s.start()).toEqual({ resumed: 0, failed: 1 });
    expect(await s.getJob(userId, id)).toMatchObject({ status: "failed", hold: "voided" });
    expect(balanceOf(userId)).toMatchObject({ balance: 100, onHold: 0 });
  });

  it("a running video with a provider id is polled again and charged exactly once", async () => {
    const local = createLocalProvider({ videoDurationMs: 50 });
    const { providerJobId } = await local.startVideo(video());
    const { userId, id } = await leftBehind("video", { status: "running", providerJobId });
    const s = service({ provider: local });
    expect(await s.start()).toEqual({ resumed: 1, failed: 0 });
    await s.worker.idle();
    expect(await s.getJob(userId, id)).toMatchObject({ status: "succeeded", hold: "posted" });
    expect(balanceOf(userId)).toMatchObject({ balance: 50, onHold: 0 });
    expect(db.sqlite.prepare("select count(*) as n from transactions where user_id = ? and type = 'usage'").get(userId)).toEqual({ n: 1 });
    expectConsistent(userId);
  });

  it("a queued video that never reached the provider is started after the restart", async () => {
    const { userId, id } = await leftBehind("video", { status: "queued" });
    const s = service();
    expect(await s.start()).toEqual({ resumed: 1, failed: 0 });
    await s.worker.idle();
    expect(await s.getJob(userId, id)).toMatchObject({ status: "succeeded" });
    expect(balanceOf(userId)).toMatchObject({ balance: 50, onHold: 0 });
  });

  it("a video whose hold expired while the app was down fails and is never posted", async () => {
    const { userId, id } = await leftBehind("video", { status: "running", providerJobId: "remote-x" });
    await sweepExpiredHolds(db, Date.now() + 901_000);
    const s = service();
    expect(await s.start()).toEqual({ resumed: 0, failed: 1 });
    expect(await s.getJob(userId, id)).toMatchObject({ status: "failed", hold: "voided" });
    expect(balanceOf(userId)).toMatchObject({ balance: 100, onHold: 0 });
    expectConsistent(userId);
  });

  it("stop() lets in-flight polls end, leaves the job running, and the next start finishes it", async () => {
    const userId = await userWith(100);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let pollsInFlight = 0;
    const remote = stubProvider({
      startVideo: async () => ({ providerJobId: "remote-stop" }),
      getVideo: async () => {
        pollsInFlight++;
        await gate;
        pollsInFlight--;
        return { status: "in_progress", progress: 50 };
      },
    });
    const first = service({ provider: remote });
    const started = await first.startVideo(userId, video());
    while (pollsInFlight === 0) await new Promise((r) => setTimeout(r, 2));
    const stopping = first.stop();
    setTimeout(release, 30);
    await stopping;
    expect(pollsInFlight).toBe(0);
    const id = started.ok ? started.job.id : "";
    expect(await findGeneration(db, id)).toMatchObject({ status: "running", providerJobId: "remote-stop", progress: 50 });
    expect(balanceOf(userId)).toMatchObject({ balance: 50, onHold: 50 });

    const second = service({ provider: stubProvider({ getVideo: async () => ({ status: "completed", progress: 100 }), downloadVideo: async () => ({ data: Buffer.from("x"), mimeType: "video/mp4", extension: "mp4" }) }) });
    expect(await second.start()).toEqual({ resumed: 1, failed: 0 });
    await second.worker.idle();
    expect(await second.getJob(userId, id)).toMatchObject({ status: "succeeded", hold: "posted" });
    expect(balanceOf(userId)).toMatchObject({ balance: 50, onHold: 0 });
    expectConsistent(userId);
  });
});

describe("reading jobs", () => {
  it("a user sees only their own jobs and files; the gallery pages newest first", async () => {
    const owner = await userWith(100);
    const other = await userWith(100);
    const s = service();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await s.generateImage(owner, image(`n${i}`));
      ids.push(r.ok ? r.job.id : "");
    }
    expect(await s.getJob(other, ids[0])).toBeUndefined();
    expect(await s.resultFile({ userId: other, admin: false }, ids[0])).toBeNull();
    expect(await s.resultFile({ userId: owner, admin: false }, ids[0])).not.toBeNull();
    // An admin (the console's view of a user's generations) reads another user's file.
    expect(await s.resultFile({ userId: other, admin: true }, ids[0])).not.toBeNull();
    const page1 = await s.listJobs(owner, { limit: 3 });
    expect(page1.items.map((j) => j.prompt)).toEqual(["n4", "n3", "n2"]);
    const page2 = await s.listJobs(owner, { limit: 3, before: page1.nextBefore });
    expect(page2.items.map((j) => j.prompt)).toEqual(["n1", "n0"]);
    expect(page2.nextBefore).toBeNull();
    expect((await s.listJobs(other, { limit: 10 })).items).toEqual([]);
  });
});
