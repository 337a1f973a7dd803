import { RateLimiterRes, type RateLimiterAbstract } from "rate-limiter-flexible";
import type { GenerationKind } from "#db/schema";
import type { LimiterStore } from "./limiter-store.server";

// Per-user generation rate limits: N images and M videos started per minute (rate-limiter-flexible,
// in the limiter store: memory for one process, Redis for several — decision 033). The "running videos" limit is not counted here: it is
// a fact in the database (the user's unfinished video jobs), checked inside the same SQLite
// transaction that places the hold, so two simultaneous requests cannot both slip under it.
//
// A point is taken before the job is created and given back when no job was started (402, 403, the
// running-videos limit), so the limits count jobs started, and a refused request never spends credits.

export type RateLimitSettings = {
  disabled: boolean;
  imagesPerMinute: number;
  videosPerMinute: number;
  runningVideos: number;
};

export type RateLimitDecision = { ok: true } | { ok: false; retryAfterSeconds: number; limit: number; window: "minute" };

export type GenerationRateLimiter = {
  readonly settings: RateLimitSettings;
  /** Takes one point for a job of this kind; refuses when the minute's allowance is used up. */
  consume(userId: number, kind: GenerationKind): Promise<RateLimitDecision>;
  /** Gives the point back (the request started no job). */
  refund(userId: number, kind: GenerationKind): Promise<void>;
};

export function createGenerationRateLimiter(settings: RateLimitSettings, store: LimiterStore): GenerationRateLimiter {
  const limiters: Record<GenerationKind, RateLimiterAbstract> = {
    image: store.create({ keyPrefix: "gen-image", points: settings.imagesPerMinute, duration: 60 }),
    video: store.create({ keyPrefix: "gen-video", points: settings.videosPerMinute, duration: 60 }),
  };
  const limits: Record<GenerationKind, number> = { image: settings.imagesPerMinute, video: settings.videosPerMinute };

  return {
    settings,
    async consume(userId, kind) {
      if (settings.disabled) return { ok: true };
      try {
        await limiters[kind].consume(String(userId), 1);
        return { ok: true };
      } catch (error) {
        if (error instanceof RateLimiterRes) {
          return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil(error.msBeforeNext / 1000)), limit: limits[kind], window: "minute" };
        }
        throw error;
      }
    },
    async refund(userId, kind) {
      if (settings.disabled) return;
      await limiters[kind].reward(String(userId), 1);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Per API key: every request made with a key takes a point, whatever the route, so one leaked or
// runaway integration is slowed down on its own before it reaches the user's limits.

export type ApiKeyRateLimiter = {
  readonly requestsPerMinute: number;
  consume(apiKeyId: number): Promise<RateLimitDecision>;
};

export function createApiKeyRateLimiter(settings: { disabled: boolean; requestsPerMinute: number }, store: LimiterStore): ApiKeyRateLimiter {
  const limiter = store.create({ keyPrefix: "api-key", points: settings.requestsPerMinute, duration: 60 });
  return {
    requestsPerMinute: settings.requestsPerMinute,
    async consume(apiKeyId) {
      if (settings.disabled) return { ok: true };
      try {
        await limiter.consume(String(apiKeyId), 1);
        return { ok: true };
      } catch (error) {
        if (error instanceof RateLimiterRes) {
          return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil(error.msBeforeNext / 1000)), limit: settings.requestsPerMinute, window: "minute" };
        }
        throw error;
      }
    },
  };
}
