import type { PortableDb } from "#db/client.server";
import { generationCosts, type GenerationCosts } from "./money/pricing.server";
import type { Config } from "./env.server";
import { limiterStoreFor } from "./limiter-store.server";
import { logger } from "./logger.server";
import { createProvider } from "./providers/index.server";
import type { GenerationProvider } from "./providers/types";
import { DEFAULT_BUSY_RETRY, UnsettledJobs, type BusyRetryPolicy, type Settler } from "./generation-settle.server";
import { createGenerationRateLimiter, type GenerationRateLimiter } from "./rate-limit.server";
import { resultStoreFor, type ResultStore } from "./results/result-store.server";
import { VideoWorker, type WorkerLog } from "./video-worker.server";

// What every step of the generation service works with, built once per service from its options:
// the database, the config, the provider, the rate limiter, the video worker, a log and a clock.

export type GenerationConfig = Pick<
  Config,
  | "DATA_DIR"
  | "IMAGE_COST"
  | "VIDEO_COST"
  | "VIDEO_COST_1080P"
  | "VIDEO_COST_SECONDS"
  | "GENERATION_PROVIDER"
  | "OPENAI_BASE_URL"
  | "OPENAI_API_KEY"
  | "OPENAI_IMAGE_MODEL"
  | "OPENAI_VIDEO_MODEL"
  | "GENERATION_TIMEOUT_SECONDS"
  | "GENERATION_HOLD_TTL_SECONDS"
  | "LOCAL_VIDEO_DURATION_MS"
  | "VIDEO_CONCURRENCY"
  | "VIDEO_LEASE_SECONDS"
  | "RATE_LIMIT_DISABLED"
  | "RATE_LIMIT_IMAGES_PER_MINUTE"
  | "RATE_LIMIT_VIDEOS_PER_MINUTE"
  | "RATE_LIMIT_RUNNING_VIDEOS"
  | "results"
  | "REDIS_URL"
>;

export type GenerationServiceOptions = {
  /** The app's database (AppDb on SQLite) or any executor: every statement goes through `db.sql`. */
  db: PortableDb;
  config: GenerationConfig;
  /** Default: createProvider from the config. */
  provider?: GenerationProvider;
  log?: WorkerLog;
  /** Worker tuning for tests. */
  pollIntervalMs?: (attempt: number) => number;
  /** How long stop() lets in-flight provider calls run before aborting them (tests: short). */
  stopGraceMs?: number;
  /** How long a video worker's claim lasts unless renewed (default: the worker's; tests: short). */
  videoLeaseMs?: number;
  /** How often the worker looks for jobs nobody holds once started (default 5 s; 0: never). */
  videoScanIntervalMs?: number;
  /** How writes that meet SQLITE_BUSY are retried (tests: fewer, shorter). */
  busyRetry?: BusyRetryPolicy;
  now?: () => number;
};

export type GenerationContext = {
  db: PortableDb;
  config: GenerationConfig;
  provider: GenerationProvider;
  rateLimiter: GenerationRateLimiter;
  worker: VideoWorker;
  /** Where finished files are stored (a folder or a bucket). */
  results: ResultStore;
  log: WorkerLog;
  now: () => number;
  costs: GenerationCosts;
  /** Ending jobs through a busy database: the retry policy and the failures still to write. */
  settler: Settler;
};

function providerFor(config: GenerationConfig): GenerationProvider {
  return createProvider({
    provider: config.GENERATION_PROVIDER,
    openaiBaseUrl: config.OPENAI_BASE_URL,
    openaiApiKey: config.OPENAI_API_KEY,
    openaiImageModel: config.OPENAI_IMAGE_MODEL,
    openaiVideoModel: config.OPENAI_VIDEO_MODEL,
    requestTimeoutMs: config.GENERATION_TIMEOUT_SECONDS * 1000,
    localVideoDurationMs: config.LOCAL_VIDEO_DURATION_MS,
  });
}

export function createGenerationContext(options: GenerationServiceOptions): GenerationContext {
  const { db, config } = options;
  const log = options.log ?? logger;
  const now = options.now ?? Date.now;
  const provider = options.provider ?? providerFor(config);
  const rateLimiter = createGenerationRateLimiter({
    disabled: config.RATE_LIMIT_DISABLED,
    imagesPerMinute: config.RATE_LIMIT_IMAGES_PER_MINUTE,
    videosPerMinute: config.RATE_LIMIT_VIDEOS_PER_MINUTE,
    runningVideos: config.RATE_LIMIT_RUNNING_VIDEOS,
  }, limiterStoreFor(config));
  const results = resultStoreFor(config.results);
  const settler: Settler = { db, busyRetry: options.busyRetry ?? DEFAULT_BUSY_RETRY, unsettled: new UnsettledJobs(), log, now };
  const worker = new VideoWorker({
    db,
    settler,
    holdTtlMs: config.GENERATION_HOLD_TTL_SECONDS * 1000,
    provider,
    results,
    concurrency: config.VIDEO_CONCURRENCY,
    maxFailingMs: config.GENERATION_TIMEOUT_SECONDS * 1000,
    pollIntervalMs: options.pollIntervalMs,
    stopGraceMs: options.stopGraceMs,
    leaseMs: options.videoLeaseMs ?? config.VIDEO_LEASE_SECONDS * 1000,
    scanIntervalMs: options.videoScanIntervalMs,
    log,
    now,
  });
  return { db, config, provider, rateLimiter, worker, results, log, now, costs: generationCosts(config), settler };
}
