import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer, type RunningServer } from "../support/server";
import { balanceOf, expectLedgerConsistent, postJson, signedIn } from "./generation-support";

// Rate limits over HTTP (local provider): 429 JSON with Retry-After, and a refused request spends
// nothing. startServer turns the limits off by default; this server turns them on.

let server: RunningServer;

beforeAll(async () => {
  server = await startServer({
    RATE_LIMIT_DISABLED: "0",
    RATE_LIMIT_IMAGES_PER_MINUTE: "3",
    RATE_LIMIT_VIDEOS_PER_MINUTE: "5",
    RATE_LIMIT_RUNNING_VIDEOS: "1",
    LOCAL_VIDEO_DURATION_MS: "20000",
    SIGNUP_BONUS_CREDITS: "200",
  });
});

afterAll(async () => {
  await server?.stop();
});

describe("generation rate limits", () => {
  it("the start-up log does not claim the limits are off", () => {
    expect(server.output()).not.toMatch(/generation rate limits are OFF/);
  });

  it("images: N a minute per user, then 429 with Retry-After; the refused ones spend nothing", async () => {
    const client = await signedIn(server.url, "rl-image");
    const responses = await Promise.all(
      Array.from({ length: 6 }, (_, i) => postJson(client, "/api/generate-image", { prompt: `tile ${i}`, size: "256x256" })),
    );
    const statuses = responses.map((r) => r.status).sort();
    expect(statuses).toEqual([201, 201, 201, 429, 429, 429]);
    const limited = responses.find((r) => r.status === 429)!;
    const retryAfter = Number(limited.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(await limited.json()).toMatchObject({ error: "rate_limited", retryAfterSeconds: retryAfter, message: expect.stringMatching(/at most 3 a minute/) });
    expect(await balanceOf(client)).toMatchObject({ balance: 200 - 3 * 5, onHold: 0 });

    // The /generate page (a form, no JavaScript) answers the same: 429, Retry-After, a clear message.
    const page = await client.post("/generate", { intent: "image", prompt: "one more", size: "256x256" });
    expect(page.status).toBe(429);
    expect(Number(page.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(await page.text()).toContain("Too many image requests: at most 3 a minute.");
    expect(await balanceOf(client)).toMatchObject({ balance: 200 - 3 * 5, onHold: 0 });

    // Another user has their own allowance.
    const other = await signedIn(server.url, "rl-other");
    const form = await other.post("/generate", { intent: "image", prompt: "mine", size: "256x256" });
    expect(form.status).toBe(303);
    // The fragment scrolls to the result, which sits below the forms.
    expect(form.headers.get("location")).toMatch(/^\/generate\?job=gen_[0-9a-f]{24}#current-job$/);
    expect(await balanceOf(other)).toMatchObject({ balance: 195 });
  });

  it("videos: at most RATE_LIMIT_RUNNING_VIDEOS running per user; the refused one spends nothing", async () => {
    const client = await signedIn(server.url, "rl-video");
    const first = await postJson(client, "/api/generate-video", { prompt: "slow clouds" });
    expect(first.status).toBe(202);
    const second = await postJson(client, "/api/generate-video", { prompt: "more clouds" });
    expect(second.status).toBe(429);
    expect(Number(second.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(await second.json()).toMatchObject({ error: "rate_limited", message: expect.stringMatching(/1 video in progress/) });
    // The default 4 s clip at 720p holds half of VIDEO_COST (50 per 8 s).
    expect(await balanceOf(client)).toMatchObject({ balance: 175, onHold: 25 });
    expectLedgerConsistent(server.dataDir);
  });
});
