import { describe, expect, it } from "vitest";
import { createGenerationRateLimiter } from "./rate-limit.server";
import { memoryLimiterStore } from "./limiter-store.server";

const settings = { disabled: false, imagesPerMinute: 2, videosPerMinute: 1, runningVideos: 1 };

describe("generation rate limits", () => {
  it("count per user and per kind, and say when to come back", async () => {
    const limiter = createGenerationRateLimiter(settings, memoryLimiterStore);
    expect(await limiter.consume(1, "image")).toEqual({ ok: true });
    expect(await limiter.consume(1, "image")).toEqual({ ok: true });
    const refused = await limiter.consume(1, "image");
    expect(refused).toMatchObject({ ok: false, limit: 2, window: "minute" });
    expect(!refused.ok && refused.retryAfterSeconds).toBeGreaterThanOrEqual(59);
    expect(await limiter.consume(2, "image")).toEqual({ ok: true });
    expect(await limiter.consume(1, "video")).toEqual({ ok: true });
    expect(await limiter.consume(1, "video")).toMatchObject({ ok: false, limit: 1 });
  });

  it("a refunded point can be used again", async () => {
    const limiter = createGenerationRateLimiter(settings, memoryLimiterStore);
    await limiter.consume(1, "video");
    await limiter.refund(1, "video");
    expect(await limiter.consume(1, "video")).toEqual({ ok: true });
  });

  it("RATE_LIMIT_DISABLED lets everything through", async () => {
    const limiter = createGenerationRateLimiter({ ...settings, disabled: true }, memoryLimiterStore);
    for (let i = 0; i < 10; i++) expect(await limiter.consume(1, "video")).toEqual({ ok: true });
  });
});
