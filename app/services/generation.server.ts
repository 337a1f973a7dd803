import type { Readable } from "node:stream";
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
 *
 * The service object only wires things: its context (generation-context.server.ts), starting a
 * job (generation-start.server.ts), the job rows (generation-job-*.server.ts, generation-view).
 */
import type { ImageInput, VideoInput } from "~/utils/generation-schemas";
import { createGenerationContext, type GenerationContext, type GenerationServiceOptions } from "./generation-context.server";
import { findGeneration, findUserGeneration, listUserGenerations, listUserUnfinished, type Generation } from "./generation-job-reads.server";
import { failJobOfVoidedHold, markDeleted } from "./generation-job-writes.server";
import { reconcileJobs, startGenerationReconciler, type ReconcileReport } from "./generation-reconciler.server";
import { queueVideo, startImage, type StartOptions, type StartResult } from "./generation-start.server";
import { toGenerationView, type GenerationView } from "./generation-view.server";
import { logger } from "./logger.server";
import type { Tx } from "./money/ledger.server";
import type { SqlRunner } from "#db/sql.server";
import { videoPrices } from "./money/pricing.server";
import { removeJobQuietly, type ResultRange } from "./results/result-store.server";
import { getRuntime, type BackgroundTask, type Runtime } from "./runtime.server";

export type { GenerationConfig, GenerationServiceOptions } from "./generation-context.server";
export type { StartOptions, StartRefusal, StartResult } from "./generation-start.server";

export type ResultFile = {
  size: number;
  mimeType: string;
  fileName: string;
  /** The bytes, or one inclusive range of them, from wherever the store keeps them. */
  read: (range?: ResultRange) => Promise<Readable>;
};

export type DeleteResult = { ok: true } | { ok: false; reason: "not_found" | "unfinished" };

/** The owner's job unless they deleted it: a deleted job answers as if it never existed. */
async function findOwnVisible(ctx: GenerationContext, userId: number, id: string): Promise<Generation | undefined> {
  const job = await findUserGeneration(ctx.db, userId, id);
  return job && job.deletedAt === null ? job : undefined;
}

/** Who asks for a result file: its owner, or an admin looking at a user's generations (decision 032). */
export type ResultViewer = { userId: number; admin: boolean };

/** The finished file, or null (not the viewer's and they are no admin, deleted, not finished, or missing on disk). */
async function findResultFile(ctx: GenerationContext, viewer: ResultViewer, id: string): Promise<ResultFile | null> {
  const found = viewer.admin ? await findGeneration(ctx.db, id) : await findOwnVisible(ctx, viewer.userId, id);
  const job = found && found.deletedAt === null ? found : undefined;
  if (!job || job.status !== "succeeded" || !job.resultPath || !job.resultMimeType) return null;
  const key = job.resultPath;
  const stored = await ctx.results.stat(key);
  if (!stored) return null;
  return { size: stored.size, mimeType: job.resultMimeType, fileName: key.split("/").pop()!, read: (range) => ctx.results.read(key, range) };
}

export function createGenerationService(options: GenerationServiceOptions) {
  const ctx = createGenerationContext(options);
  const { db, config, provider, worker, rateLimiter, costs } = ctx;

  return {
    provider,
    worker,
    rateLimiter,
    costs,
    /** Every video length's price, for the generate page. */
    videoPrices: videoPrices(config),

    /**
     * Generates an image within the request. Resolves with the finished job: `succeeded` (the hold
     * posted) or `failed` (the hold voided, nothing charged); or with a refusal that changed nothing.
     */
    generateImage(userId: number, input: ImageInput, opts: StartOptions = {}): Promise<StartResult> {
      return startImage(ctx, userId, input, opts);
    },

    /** Places the hold and queues the video; the worker does the rest. Resolves at once. */
    startVideo(userId: number, input: VideoInput, opts: StartOptions = {}): Promise<StartResult> {
      return queueVideo(ctx, userId, input, opts);
    },

    async getJob(userId: number, id: string): Promise<GenerationView | undefined> {
      const job = await findOwnVisible(ctx, userId, id);
      return job ? toGenerationView(job) : undefined;
    },

    /** The owner's queued and running jobs (they cannot be deleted, so none is hidden). */
    async listUnfinished(userId: number): Promise<GenerationView[]> {
      return (await listUserUnfinished(db, userId)).map(toGenerationView);
    },

    /**
     * Deletes a finished result of its owner: hidden from every read, its file removed from disk.
     * The ledger is not touched — what was charged stays charged and stays in the history.
     * Another user's id, a deleted or an unknown one is "not_found"; a job still running is refused.
     */
    async deleteJob(userId: number, id: string): Promise<DeleteResult> {
      const job = await findOwnVisible(ctx, userId, id);
      if (!job) return { ok: false, reason: "not_found" };
      if (!(await markDeleted(db, userId, id, ctx.now()))) {
        return { ok: false, reason: job.status === "queued" || job.status === "running" ? "unfinished" : "not_found" };
      }
      // After the row says deleted, so a failure here leaves a file nobody can reach, never a
      // visible result without its file.
      await removeJobQuietly(ctx.results, userId, id, ctx.log);
      return { ok: true };
    },

    async listJobs(userId: number, opts: { limit: number; before?: string | null }) {
      const page = await listUserGenerations(db, userId, opts);
      return { items: page.items.map(toGenerationView), nextBefore: page.nextBefore };
    },

    /** The owner's finished file, or null (not theirs, not finished, or missing on disk). */
    /** The owner's file; an admin (a browser session, see the file route) may read anyone's. */
    resultFile(viewer: ResultViewer, id: string): Promise<ResultFile | null> {
      return findResultFile(ctx, viewer, id);
    },

    /** The hold sweeper's onVoided hook (background.server.ts): on the sweep's `tx`, inside its transaction. */
    onHoldVoided(hold: Tx, tx: SqlRunner): Promise<void> {
      return failJobOfVoidedHold(tx, hold, ctx.now());
    },

    /** One reconciler pass (the background task runs it on a timer). */
    reconcile(): Promise<ReconcileReport> {
      return reconcileJobs(ctx);
    },

    /** The reconciler's timer; stopped with the runtime. */
    startReconciler(intervalMs: number): BackgroundTask {
      const reconciler = startGenerationReconciler(ctx, { intervalMs });
      return { name: "generation-reconciler", stop: () => reconciler.stop() };
    },

    /** Start-up: clears half-written files, fails or resumes unfinished jobs. */
    start(): Promise<{ resumed: number; failed: number }> {
      ctx.results.removeLeftovers();
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
    service = createGenerationService({
      db: runtime.db,
      config: runtime.config,
    });
    services.set(runtime, service);
  }
  return service;
}

/** The background starter: recovery, then the worker; stop() lets in-flight polls end. */
export async function startGenerationBackground(rt: Runtime): Promise<BackgroundTask> {
  if (rt.config.RATE_LIMIT_DISABLED) {
    logger.warn("RATE_LIMIT_DISABLED is set: generation rate limits are OFF (for tests and benchmarks only)");
  }
  const service = getGenerationService(rt);
  await service.start();
  logger.info(
    { provider: service.provider.name, videoConcurrency: rt.config.VIDEO_CONCURRENCY },
    "generation worker started",
  );
  return { name: "generation", stop: () => service.stop() };
}
