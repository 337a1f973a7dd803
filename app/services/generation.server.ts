/**
 * Generation: the rules for spending credits on images and videos (decision 007).
 *
 * - A hold for the job's cost is placed (with the job row, one transaction) BEFORE the provider is
 *   called; success posts it, any failure voids it — a failed generation costs nothing.
 * - Images run inside the request, with a deadline (GENERATION_TIMEOUT_SECONDS). Videos are queued
 *   to the in-process VideoWorker (VIDEO_CONCURRENCY at once), which survives restarts.
 * - Refusals change nothing: a flagged account (403), too little credit (402), a rate limit (429).
 *
 * Routes call `getGenerationService()`; the server entry starts it (recovery + worker) through the
 * background starter registered in background.server.ts.
 */
import type { AppDb } from "#db/client.server";
import type { GenerationKind } from "#db/schema";
import type { ImageInput, VideoInput } from "~/utils/generation-schemas";
import { getBalance } from "./money/ledger.server";
import { generationCosts } from "./money/pricing.server";
import type { Config } from "./env.server";
import { removeJobFiles, removeTempFiles, statResultFile, writeResultFile } from "./generation-files.server";
import { findGeneration, findUserGeneration, generationIdForKey, listUserGenerations } from "./generation-job-reads.server";
import { completeGeneration, failGeneration, failureOf, openGeneration } from "./generation-job-writes.server";
import { toGenerationView, type GenerationView } from "./generation-view.server";
import { logger } from "./logger.server";
import { createProvider } from "./providers/index.server";
import type { GenerationProvider } from "./providers/types";
import { createGenerationRateLimiter, type GenerationRateLimiter } from "./rate-limit.server";
import { getRuntime, type BackgroundTask, type Runtime } from "./runtime.server";
import { VideoWorker, type WorkerLog } from "./video-worker.server";

export type GenerationConfig = Pick<
  Config,
  | "DATA_DIR"
  | "IMAGE_COST"
  | "VIDEO_COST"
  | "VIDEO_COST_1080P"
  | "GENERATION_PROVIDER"
  | "OPENAI_BASE_URL"
  | "OPENAI_API_KEY"
  | "OPENAI_IMAGE_MODEL"
  | "OPENAI_VIDEO_MODEL"
  | "GENERATION_TIMEOUT_SECONDS"
  | "GENERATION_HOLD_TTL_SECONDS"
  | "LOCAL_VIDEO_DURATION_MS"
  | "VIDEO_CONCURRENCY"
  | "RATE_LIMIT_DISABLED"
  | "RATE_LIMIT_IMAGES_PER_MINUTE"
  | "RATE_LIMIT_VIDEOS_PER_MINUTE"
  | "RATE_LIMIT_RUNNING_VIDEOS"
>;

export type StartRefusal =
  | { ok: false; reason: "insufficient_credits"; message: string; balance: number; needed: number }
  | { ok: false; reason: "rate_limited"; message: string; retryAfterSeconds: number }
  | { ok: false; reason: "account_flagged"; message: string };

/** `replayed`: the request key named a job that already existed; nothing new was done or charged. */
export type StartResult = { ok: true; job: GenerationView; balance: number; replayed?: boolean } | StartRefusal;

export type ResultFile = { fullPath: string; size: number; mimeType: string; fileName: string };

/** Seconds a client should wait when the running-videos limit is reached (no exact time is known). */
const RUNNING_LIMIT_RETRY_SECONDS = 10;

export type GenerationServiceOptions = {
  db: AppDb;
  config: GenerationConfig;
  /** Default: createProvider from the config. */
  provider?: GenerationProvider;
  log?: WorkerLog;
  /** Worker tuning for tests. */
  pollIntervalMs?: (attempt: number) => number;
  now?: () => number;
};

export function createGenerationService(options: GenerationServiceOptions) {
  const { db, config } = options;
  const log = options.log ?? logger;
  const now = options.now ?? Date.now;
  const provider =
    options.provider ??
    createProvider({
      provider: config.GENERATION_PROVIDER,
      openaiBaseUrl: config.OPENAI_BASE_URL,
      openaiApiKey: config.OPENAI_API_KEY,
      openaiImageModel: config.OPENAI_IMAGE_MODEL,
      openaiVideoModel: config.OPENAI_VIDEO_MODEL,
      requestTimeoutMs: config.GENERATION_TIMEOUT_SECONDS * 1000,
      localVideoDurationMs: config.LOCAL_VIDEO_DURATION_MS,
    });
  const rateLimiter: GenerationRateLimiter = createGenerationRateLimiter({
    disabled: config.RATE_LIMIT_DISABLED,
    imagesPerMinute: config.RATE_LIMIT_IMAGES_PER_MINUTE,
    videosPerMinute: config.RATE_LIMIT_VIDEOS_PER_MINUTE,
    runningVideos: config.RATE_LIMIT_RUNNING_VIDEOS,
  });
  const worker = new VideoWorker({
    db,
    provider,
    dataDir: config.DATA_DIR,
    concurrency: config.VIDEO_CONCURRENCY,
    maxFailingMs: config.GENERATION_TIMEOUT_SECONDS * 1000,
    pollIntervalMs: options.pollIntervalMs,
    log,
    now,
  });
  const costs = generationCosts(config);
  const timeoutMs = config.GENERATION_TIMEOUT_SECONDS * 1000;

  /** Rate limit, then hold + job row. A refusal gives the rate-limit point back and spends nothing. */
  async function open(
    userId: number,
    kind: GenerationKind,
    args: { prompt: string; options: Record<string, unknown>; cost: number; description: string; requestKey?: string },
  ) {
    const id = args.requestKey ? generationIdForKey(userId, args.requestKey) : undefined;
    // A replay is answered before the rate limiter: a retry must not be refused or counted.
    const known = id ? findUserGeneration(db, userId, id) : undefined;
    if (known) return { ok: true as const, job: known, replayed: true };
    const limit = await rateLimiter.consume(userId, kind);
    if (!limit.ok) {
      return {
        ok: false as const,
        reason: "rate_limited" as const,
        retryAfterSeconds: limit.retryAfterSeconds,
        message: `Too many ${kind} requests: at most ${limit.limit} a minute. Try again in ${limit.retryAfterSeconds} s.`,
      };
    }
    const opened = openGeneration(db, {
      id,
      userId,
      kind,
      prompt: args.prompt,
      options: args.options,
      cost: args.cost,
      provider: provider.name,
      status: kind === "image" ? "running" : "queued",
      holdTtlSeconds: config.GENERATION_HOLD_TTL_SECONDS,
      holdDescription: args.description,
      maxUnfinishedVideos: config.RATE_LIMIT_DISABLED ? null : config.RATE_LIMIT_RUNNING_VIDEOS,
      now: now(),
    });
    if (opened.ok) {
      if (opened.replayed) await rateLimiter.refund(userId, kind);
      return opened;
    }
    await rateLimiter.refund(userId, kind);
    switch (opened.reason) {
      case "account_flagged":
        return {
          ok: false as const,
          reason: opened.reason,
          message: "This account is on hold because a payment was disputed. Generation is disabled until support clears it.",
        };
      case "too_many_running":
        return {
          ok: false as const,
          reason: "rate_limited" as const,
          retryAfterSeconds: RUNNING_LIMIT_RETRY_SECONDS,
          message: `You already have ${opened.running} video${opened.running === 1 ? "" : "s"} in progress (at most ${opened.limit}). Wait for one to finish.`,
        };
      case "insufficient_credits":
        return {
          ok: false as const,
          reason: opened.reason,
          balance: opened.balance,
          needed: opened.needed,
          message: `Not enough credits: this costs ${opened.needed} and your balance is ${opened.balance}.`,
        };
    }
  }

  function started(userId: number, id: string, replayed = false): StartResult {
    return { ok: true, job: toGenerationView(findGeneration(db, id)!), balance: getBalance(db, userId).balance, ...(replayed ? { replayed } : {}) };
  }

  return {
    provider,
    worker,
    rateLimiter,
    costs,

    /**
     * Generates an image within the request. Resolves with the finished job: `succeeded` (the hold
     * posted) or `failed` (the hold voided, nothing charged); or with a refusal that changed nothing.
     */
    async generateImage(userId: number, input: ImageInput, opts: { requestKey?: string } = {}): Promise<StartResult> {
      const opened = await open(userId, "image", {
        prompt: input.prompt,
        options: { size: input.size },
        cost: costs.image,
        description: `Image generation (${input.size})`,
        requestKey: opts.requestKey,
      });
      if (!opened.ok) return opened;
      const { job } = opened;
      if (opened.replayed) return started(userId, job.id, true);
      try {
        const file = await provider.generateImage(
          { prompt: input.prompt, size: input.size },
          { signal: AbortSignal.timeout(timeoutMs) },
        );
        const resultPath = await writeResultFile(config.DATA_DIR, userId, job.id, file);
        const done = completeGeneration(db, job.id, { resultPath, mimeType: file.mimeType }, now());
        if (!done.ok) {
          removeJobFiles(config.DATA_DIR, userId, job.id);
          failGeneration(db, job.id, "The credit hold expired before the image was ready.", "hold_expired", now());
        }
      } catch (error) {
        const failure = failureOf(error);
        if (failure.unexpected) log.error({ err: error, generationId: job.id }, "image generation failed unexpectedly");
        removeJobFiles(config.DATA_DIR, userId, job.id);
        failGeneration(db, job.id, failure.message, failure.voidReason, now());
      }
      return started(userId, job.id);
    },

    /** Places the hold and queues the video; the worker does the rest. Resolves at once. */
    async startVideo(userId: number, input: VideoInput, opts: { requestKey?: string } = {}): Promise<StartResult> {
      const opened = await open(userId, "video", {
        prompt: input.prompt,
        options: { resolution: input.resolution, durationSeconds: input.durationSeconds },
        cost: costs.video[input.resolution],
        description: `Video generation (${input.resolution}, ${input.durationSeconds} s)`,
        requestKey: opts.requestKey,
      });
      if (!opened.ok) return opened;
      if (opened.replayed) return started(userId, opened.job.id, true);
      worker.enqueue(opened.job.id);
      return started(userId, opened.job.id);
    },

    getJob(userId: number, id: string): GenerationView | undefined {
      const job = findUserGeneration(db, userId, id);
      return job ? toGenerationView(job) : undefined;
    },

    listJobs(userId: number, opts: { limit: number; before?: string | null }) {
      const page = listUserGenerations(db, userId, opts);
      return { items: page.items.map(toGenerationView), nextBefore: page.nextBefore };
    },

    /** The owner's finished file, or null (not theirs, not finished, or missing on disk). */
    async resultFile(userId: number, id: string): Promise<ResultFile | null> {
      const job = findUserGeneration(db, userId, id);
      if (!job || job.status !== "succeeded" || !job.resultPath || !job.resultMimeType) return null;
      const stored = await statResultFile(config.DATA_DIR, job.resultPath);
      if (!stored) return null;
      return { ...stored, mimeType: job.resultMimeType, fileName: job.resultPath.split("/").pop()! };
    },

    /** Start-up: clears half-written files, fails or resumes unfinished jobs. */
    start(): { resumed: number; failed: number } {
      removeTempFiles(config.DATA_DIR);
      return worker.recover();
    },

    stop(): Promise<void> {
      return worker.stop();
    },
  };
}

export type GenerationService = ReturnType<typeof createGenerationService>;

const services = new WeakMap<Runtime, GenerationService>();

/** The service of the running process (one per runtime). */
export function getGenerationService(rt: Runtime = getRuntime()): GenerationService {
  const runtime = rt;
  let service = services.get(runtime);
  if (!service) {
    service = createGenerationService({ db: runtime.db, config: runtime.config });
    services.set(runtime, service);
  }
  return service;
}

/** The background starter: recovery, then the worker; stop() lets in-flight polls end. */
export function startGenerationBackground(rt: Runtime): BackgroundTask {
  if (rt.config.RATE_LIMIT_DISABLED) {
    logger.warn("RATE_LIMIT_DISABLED is set: generation rate limits are OFF (for tests and benchmarks only)");
  }
  const service = getGenerationService(rt);
  service.start();
  logger.info(
    { provider: service.provider.name, videoConcurrency: rt.config.VIDEO_CONCURRENCY },
    "generation worker started",
  );
  return { name: "generation", stop: () => service.stop() };
}
