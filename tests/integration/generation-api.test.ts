import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startFakeOpenAI, type FakeOpenAI } from "../mocks/openai-server";
import { grant } from "../../app/services/money/ledger.server";
import { withServerSql } from "../support/server-sql";
import { startServer, type RunningServer } from "../support/server";
import {
  balanceOf,
  expectServerLedgerConsistent,
  finished,
  getJob,
  postJson,
  signedIn,
  waitForJob,
  type JobJson,
} from "./generation-support";

// The generation API over HTTP, against the BUILT app and a fake OpenAI-compatible server
// (GENERATION_PROVIDER=openai). Rate limits are off here (startServer's default); they have their
// own file.

/** VIDEO_COST (10 here, at 720p; 1080p twice that) is the price of 8 seconds; other lengths pro rata,
 * rounded up. Written out here as the test's own oracle for the rule in pricing.server.ts. */
const VIDEO_COST = 10;
const priceOf = (seconds: number, resolution: "720p" | "1080p" = "720p") =>
  Math.ceil(((resolution === "1080p" ? 2 : 1) * VIDEO_COST * seconds) / 8);

let fake: FakeOpenAI;
let server: RunningServer;

beforeAll(async () => {
  fake = await startFakeOpenAI({ videoDurationMs: 300 });
  server = await startServer({
    GENERATION_PROVIDER: "openai",
    OPENAI_BASE_URL: fake.url,
    OPENAI_API_KEY: fake.apiKey,
    SIGNUP_BONUS_CREDITS: "23",
    IMAGE_COST: "5",
    VIDEO_COST: "10",
    GENERATION_TIMEOUT_SECONDS: "2",
  });
});

afterAll(async () => {
  await server?.stop();
  await fake?.close();
});

beforeEach(() => fake.setBehaviour({}));

const imageCalls = () => fake.requests.filter((r) => r.method === "POST" && r.path === "/images/generations").length;

describe("access", () => {
  it("answers 401 JSON without a session, on every generation route", async () => {
    for (const path of ["/api/generate-image", "/api/generate-video"]) {
      const res = await fetch(`${server.url}${path}`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ prompt: "a cat" }),
      });
      expect(res.status, path).toBe(401);
      expect(res.headers.get("content-type")).toMatch(/application\/json/);
      expect(await res.json()).toMatchObject({ error: "unauthorized" });
    }
    expect((await fetch(`${server.url}/api/generations/gen_000000000000000000000000`)).status).toBe(401);
    expect((await fetch(`${server.url}/generations/gen_000000000000000000000000/file`)).status).toBe(401);
  });

  it("says at start-up that rate limits are off", async () => {
    expect(server.output()).toMatch(/RATE_LIMIT_DISABLED is set: generation rate limits are OFF/);
  });

  it("a flagged account is refused with 403 JSON and spends nothing", async () => {
    const client = await signedIn(server.url, "flagged");
    const { userId } = await balanceOf(client);
    // Test set-up only: flag the account as a dispute does (users.flagged_at; not a ledger write).
    await withServerSql(server, (sql) => sql.run("update users set flagged_at = ?, flagged_reason = 'dispute' where id = ?", [Date.now(), userId]));
    const res = await postJson(client, "/api/generate-image", { prompt: "a cat" });
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ error: "account_flagged", message: expect.stringMatching(/disputed/) });
    expect(await balanceOf(client)).toMatchObject({ balance: 23, onHold: 0 });
  });
});

describe("validation", () => {
  it("answers 422 JSON naming the problem for a missing, empty, non-string or over-long prompt and bad options", async () => {
    const client = await signedIn(server.url, "invalid");
    const cases: Array<[string, unknown, RegExp]> = [
      ["/api/generate-image", {}, /prompt: A prompt is required/],
      ["/api/generate-image", { prompt: "   " }, /prompt: The prompt must not be empty/],
      ["/api/generate-image", { prompt: 7 }, /prompt: The prompt must be text/],
      ["/api/generate-image", { prompt: "x".repeat(2001) }, /prompt: The prompt must be at most 2000 characters/],
      ["/api/generate-image", { prompt: "a cat", size: "4096x4096" }, /size: Choose a size/],
      ["/api/generate-image", { prompt: "a cat", options: { size: "huge" } }, /size: Choose a size/],
      ["/api/generate-image", { prompt: "a cat", options: "big" }, /options must be an object/],
      ["/api/generate-image", { prompt: "a cat", colour: "red" }, /Unrecognized key/],
      ["/api/generate-video", { prompt: "waves", resolution: "4k" }, /resolution: Choose a resolution: 720p or 1080p/],
      ["/api/generate-video", { prompt: "waves", durationSeconds: 0 }, /durationSeconds: The duration must be a whole number/],
      ["/api/generate-video", { prompt: "waves", durationSeconds: "ten" }, /durationSeconds: The duration must be a whole number/],
    ];
    for (const [path, body, message] of cases) {
      const res = await postJson(client, path, body);
      expect(res.status, JSON.stringify(body)).toBe(422);
      const json = (await res.json()) as { error: string; message: string; issues: unknown[] };
      expect(json.error).toBe("invalid_request");
      expect(json.message, JSON.stringify(body)).toMatch(message);
    }
    const broken = await postJson(client, "/api/generate-image", "{not json");
    expect(broken.status).toBe(400);
    expect(await broken.json()).toMatchObject({ error: "invalid_json" });
    const array = await postJson(client, "/api/generate-image", "[1,2]");
    expect(array.status).toBe(400);
    const text = await client.request("/api/generate-image", { method: "POST", headers: { "Content-Type": "text/plain" }, body: "a cat" });
    expect(text.status).toBe(415);
    expect((await client.get("/api/generate-image")).status).toBe(405);
    expect(await balanceOf(client)).toMatchObject({ balance: 23, onHold: 0 });
    expect(imageCalls()).toBe(0);
  });
});

describe("images", () => {
  it("a form post works like JSON: 201 with the job, its file served to its owner only", async () => {
    const owner = await signedIn(server.url, "owner");
    const res = await owner.post("/api/generate-image", { prompt: "a lighthouse", size: "1024x1024" });
    expect(res.status).toBe(201);
    const { job, balance } = (await res.json()) as { job: JobJson; balance: number };
    expect(job).toMatchObject({ kind: "image", status: "succeeded", cost: 5, hold: "posted", mimeType: "image/png", progress: 100 });
    expect(balance).toBe(18);
    expect(res.headers.get("location")).toBe(`/api/generations/${job.id}`);

    const file = await owner.get(job.resultUrl!);
    expect(file.status).toBe(200);
    expect(file.headers.get("content-type")).toBe("image/png");
    expect(file.headers.get("cache-control")).toMatch(/private/);
    const bytes = Buffer.from(await file.arrayBuffer());
    expect(bytes.subarray(1, 4).toString("latin1")).toBe("PNG");

    const stranger = await signedIn(server.url, "stranger");
    expect((await stranger.get(job.resultUrl!)).status).toBe(404);
    expect((await stranger.get(`/api/generations/${job.id}`)).status).toBe(404);
    expect((await fetch(`${server.url}${job.resultUrl}`)).status).toBe(401);
    expect((await owner.get("/generations/gen_zz/file")).status).toBe(404);
  });

  it("many concurrent requests on a small balance succeed exactly as far as it goes, then 402", async () => {
    const client = await signedIn(server.url, "burst");
    const callsBefore = imageCalls();
    const responses = await Promise.all(
      Array.from({ length: 30 }, (_, i) => postJson(client, "/api/generate-image", { prompt: `burst ${i}`, size: "256x256" })),
    );
    const statuses = responses.map((r) => r.status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(4); // 23 credits / 5
    expect(statuses.filter((s) => s === 402)).toHaveLength(26);
    const refused = (await responses.find((r) => r.status === 402)!.json()) as Record<string, unknown>;
    expect(refused).toMatchObject({ error: "insufficient_credits", needed: 5 });
    expect(refused.message).toMatch(/Not enough credits/);
    expect(imageCalls() - callsBefore).toBe(4); // refused requests never reached the provider
    expect(await balanceOf(client)).toMatchObject({ balance: 3, onHold: 0 });
    await expectServerLedgerConsistent(server);
  });

  it("a failing back-end costs nothing: 5xx, 429, timeout, unusable answer", async () => {
    const client = await signedIn(server.url, "failing");
    const attempts: Array<{ behaviour: Parameters<FakeOpenAI["setBehaviour"]>[0]; message: RegExp }> = [
      { behaviour: { fail: { status: 500, only: "/images" } }, message: /unavailable right now \(HTTP 500\)/ },
      { behaviour: { fail: { status: 429, only: "/images", retryAfterSeconds: 30 } }, message: /unavailable right now \(HTTP 429\)/ },
      { behaviour: { delayMs: 3000 }, message: /did not answer in time/ },
      { behaviour: { imageAnswer: "url" }, message: /could not be used/ },
    ];
    for (const { behaviour, message } of attempts) {
      fake.setBehaviour(behaviour);
      const res = await postJson(client, "/api/generate-image", { prompt: "a storm" });
      expect(res.status, JSON.stringify(behaviour)).toBe(502);
      const body = (await res.json()) as { error: string; message: string; job: JobJson };
      expect(body.error).toBe("generation_failed");
      expect(body.message).toMatch(message);
      expect(body.message).toMatch(/No credits were charged\.$/);
      expect(body.job).toMatchObject({ status: "failed", hold: "voided", resultUrl: null });
      expect(await balanceOf(client)).toMatchObject({ balance: 23, onHold: 0 });
    }
    fake.setBehaviour({});
    await expectServerLedgerConsistent(server);
  });
});

describe("videos", () => {
  it("202 with the job; the status route shows it finish; the MP4 is served; the cost is charged once", async () => {
    const client = await signedIn(server.url, "video");
    const res = await postJson(client, "/api/generate-video", { prompt: "a river", options: { resolution: "720p", durationSeconds: 5 } });
    expect(res.status).toBe(202);
    const { job } = (await res.json()) as { job: JobJson };
    // 5 s of 8: 6.25 → 7 credits.
    expect(job).toMatchObject({ kind: "video", cost: 7, hold: "pending" });
    expect(priceOf(5)).toBe(7);
    expect(await balanceOf(client)).toMatchObject({ balance: 16, onHold: 7 });
    const done = await waitForJob(client, job.id, finished);
    expect(done).toMatchObject({ status: "succeeded", hold: "posted", mimeType: "video/mp4" });
    const file = await client.get(done.resultUrl!);
    expect(file.headers.get("content-type")).toBe("video/mp4");
    expect(Buffer.from(await file.arrayBuffer()).subarray(4, 8).toString("latin1")).toBe("ftyp");
    const ranged = await client.get(done.resultUrl!, { headers: { Range: "bytes=0-3" } });
    expect(ranged.status).toBe(206);
    expect(ranged.headers.get("content-range")).toMatch(/^bytes 0-3\/\d+$/);
    expect(await balanceOf(client)).toMatchObject({ balance: 16, onHold: 0 });
    const created = fake.requests.filter((r) => r.method === "POST" && r.path === "/videos");
    expect(created.at(-1)!.body).toMatchObject({ prompt: "a river", seconds: "8", size: "1280x720" });
  });

  it("the price follows the length: a 1 s and a 20 s video cost what the rule says; a failed one costs nothing", async () => {
    const client = await signedIn(server.url, "video-length");
    const { userId } = await balanceOf(client);
    await withServerSql(server, (sql) => grant(sql, { userId, amount: 100, type: "bonus", key: `test-grant:${userId}`, description: "test credits" }));
    let expected = 123;
    // [seconds, resolution, credits]: 1 s of 8 is 1.25 → 2; 20 s is 25; 1080p doubles before rounding.
    const cases = [
      [1, "720p", 2],
      [20, "720p", 25],
      [1, "1080p", 3],
    ] as const;
    fake.setBehaviour({});
    for (const [durationSeconds, resolution, credits] of cases) {
      expect(priceOf(durationSeconds, resolution)).toBe(credits);
      const res = await postJson(client, "/api/generate-video", { prompt: `a ${durationSeconds} s clip`, resolution, durationSeconds });
      expect(res.status).toBe(202);
      const { job, balance } = (await res.json()) as { job: JobJson & { options: { durationSeconds: number } }; balance: number };
      expect(job).toMatchObject({ cost: credits, hold: "pending", options: { durationSeconds, resolution } });
      expect(balance).toBe(expected - credits);
      const done = await waitForJob(client, job.id, finished);
      // sora-2 has no 1080p size: that one is refused at the provider and voided, costing nothing.
      if (resolution === "1080p") {
        expect(done).toMatchObject({ status: "failed", hold: "voided" });
      } else {
        expect(done).toMatchObject({ status: "succeeded", hold: "posted" });
        expected -= credits;
      }
      expect(await balanceOf(client)).toMatchObject({ balance: expected, onHold: 0 });
    }
    expect(expected).toBe(123 - 2 - 25);

    // A 20 s clip the provider fails: held at its price while it runs, then given back in full.
    fake.setBehaviour({ failVideos: "content policy violation" });
    const failing = (await (await postJson(client, "/api/generate-video", { prompt: "a long storm", durationSeconds: 20 })).json()) as { job: JobJson };
    expect(failing.job.cost).toBe(25);
    expect(await waitForJob(client, failing.job.id, finished)).toMatchObject({ status: "failed", hold: "voided" });
    fake.setBehaviour({});
    expect(await balanceOf(client)).toMatchObject({ balance: expected, onHold: 0 });
    await expectServerLedgerConsistent(server);
  });

  it("a video that fails at the provider, or cannot start, costs nothing", async () => {
    const client = await signedIn(server.url, "video-fail");
    fake.setBehaviour({ failVideos: "content policy violation" });
    const first = (await (await postJson(client, "/api/generate-video", { prompt: "storm" })).json()) as { job: JobJson };
    const failed = await waitForJob(client, first.job.id, finished);
    expect(failed).toMatchObject({ status: "failed", hold: "voided" });
    expect(failed.error).toMatch(/content policy violation/);

    fake.setBehaviour({ fail: { status: 503, only: "/videos" } });
    const second = (await (await postJson(client, "/api/generate-video", { prompt: "calm" })).json()) as { job: JobJson };
    expect(await waitForJob(client, second.job.id, finished)).toMatchObject({ status: "failed", hold: "voided" });

    // 1080p costs 2 × VIDEO_COST per 8 s (the default 4 s: 10); sora-2 has no 1080p size, so the
    // provider refuses it: voided.
    fake.setBehaviour({});
    const third = await postJson(client, "/api/generate-video", { prompt: "wide", resolution: "1080p" });
    expect(third.status).toBe(202);
    const wide = ((await third.json()) as { job: JobJson }).job;
    expect(wide.cost).toBe(priceOf(4, "1080p"));
    expect(wide.cost).toBe(10);
    const refused = await waitForJob(client, wide.id, finished);
    expect(refused).toMatchObject({ status: "failed", hold: "voided" });
    expect(refused.error).toMatch(/refused the request/);

    // While a 4 s 720p video holds 5 credits, a 20 s 1080p one (50) is more than the 18 left: 402 at once.
    const small = await postJson(client, "/api/generate-video", { prompt: "narrow" });
    expect(small.status).toBe(202);
    const big = await postJson(client, "/api/generate-video", { prompt: "wide again", resolution: "1080p", durationSeconds: 20 });
    expect(big.status).toBe(402);
    expect(await big.json()).toMatchObject({ error: "insufficient_credits", balance: 23 - priceOf(4), needed: priceOf(20, "1080p") });
    const narrow = await waitForJob(client, ((await small.json()) as { job: JobJson }).job.id, finished);
    expect(narrow.status).toBe("succeeded");
    expect(await balanceOf(client)).toMatchObject({ balance: 23 - priceOf(4), onHold: 0 });
    expect((await getJob(client, second.job.id)).status).toBe("failed");
    await expectServerLedgerConsistent(server);
  });
});
