import { isDatabaseBusy } from "#db/client.server";
import type { GenerationKind } from "#db/schema";
import type { ImageInput, VideoInput } from "~/utils/generation-schemas";
import { announceSpend } from "./spend-listeners.server";
import type { ApiKeyRef } from "./api-keys/api-keys.server";
import { readSpendableBalance } from "./money/ledger-reads.server";
import { videoCost } from "./money/pricing.server";
import type { GenerationContext } from "./generation-context.server";
import { findGeneration, findUserGeneration, generationIdForKey, type Generation } from "./generation-job-reads.server";
import { failureOf, openGeneration, type OpenArgs, type OpenRefusal } from "./generation-job-writes.server";
import { completeJob, failJob } from "./generation-settle.server";
import { toGenerationView, type GenerationView } from "./generation-view.server";
import { removeJobQuietly } from "./results/result-store.server";

// Starting a job: the rate limit, then the hold and the job row (openJob); an image then runs
// within the request (runImage), a video goes to the worker's queue (queueVideo).

export type StartRefusal =
  | { ok: false; reason: "insufficient_credits"; message: string; balance: number; needed: number }
  | { ok: false; reason: "key_limit_reached"; message: string; limit: number; spentThisMonth: number; needed: number }
  | { ok: false; reason: "rate_limited"; message: string; retryAfterSeconds: number }
  | { ok: false; reason: "account_flagged"; message: string }
  | { ok: false; reason: "idempotency_key_reused"; message: string };

/** `replayed`: the request key named a job that already existed; nothing new was done or charged. */
export type StartResult = { ok: true; job: GenerationView; balance: number; replayed?: boolean } | StartRefusal;

/** Seconds a client should wait when the running-videos limit is reached (no exact time is known). */
const RUNNING_LIMIT_RETRY_SECONDS = 10;

/** `requestKey`: the client's Idempotency-Key; `apiKey`: the API key the request came through. */
export type StartOptions = { requestKey?: string; apiKey?: ApiKeyRef | null };

type OpenJobArgs = { prompt: string; options: Record<string, unknown>; cost: number; description: string } & StartOptions;
type Opened = { ok: true; job: Generation; replayed: boolean } | StartRefusal;

/** Rate limit, then hold + job row. A refusal gives the rate-limit point back and spends nothing. */
export async function openJob(ctx: GenerationContext, userId: number, kind: GenerationKind, args: OpenJobArgs): Promise<Opened> {
  const { db, rateLimiter } = ctx;
  const id = args.requestKey ? generationIdForKey(userId, args.requestKey) : undefined;
  // A replay is answered before the rate limiter: a retry must not be refused or counted.
  const known = id ? await findUserGeneration(db, userId, id) : undefined;
  if (known) return sameRequest(known, kind, args) ? { ok: true, job: known, replayed: true } : keyReused();
  const limit = await rateLimiter.consume(userId, kind);
  if (!limit.ok) {
    return {
      ok: false,
      reason: "rate_limited",
      retryAfterSeconds: limit.retryAfterSeconds,
      message: `Too many ${kind} requests: at most ${limit.limit} a minute. Try again in ${limit.retryAfterSeconds} s.`,
    };
  }
  let opened: Awaited<ReturnType<typeof openGeneration>>;
  try {
    opened = await openGeneration(db, openArgs(ctx, userId, kind, args, id));
  } catch (error) {
    // Nothing was written (SQLITE_BUSY, say): the request did not count.
    await rateLimiter.refund(userId, kind);
    throw error;
  }
  if (opened.ok) {
    if (opened.replayed) await rateLimiter.refund(userId, kind);
    else announceSpend(db, userId, ctx.log);
    // A concurrent request with the same key made the job first: it must have asked the same.
    if (opened.replayed && !sameRequest(opened.job, kind, args)) return keyReused();
    return opened;
  }
  await rateLimiter.refund(userId, kind);
  return refusalOf(opened);
}

/** How long past its deadline an image's request may still be saving its file and posting. */
const IMAGE_LEASE_GRACE_MS = 60_000;

function openArgs(ctx: GenerationContext, userId: number, kind: GenerationKind, args: OpenJobArgs, id: string | undefined): OpenArgs {
  const { config } = ctx;
  const now = ctx.now();
  return {
    id,
    userId,
    kind,
    prompt: args.prompt,
    options: args.options,
    cost: args.cost,
    provider: ctx.provider.name,
    status: kind === "image" ? "running" : "queued",
    holdTtlSeconds: config.GENERATION_HOLD_TTL_SECONDS,
    holdDescription: args.description,
    maxUnfinishedVideos: config.RATE_LIMIT_DISABLED ? null : config.RATE_LIMIT_RUNNING_VIDEOS,
    apiKey: args.apiKey ? { id: args.apiKey.id, monthlyLimit: args.apiKey.monthlyCreditLimit } : null,
    // An image runs in this request: its lease keeps another instance's start-up from failing it.
    // A video is claimed by whichever worker takes it (video-worker.server.ts).
    ...(kind === "image" ? { leaseOwner: ctx.worker.id, leaseUntil: now + config.GENERATION_TIMEOUT_SECONDS * 1000 + IMAGE_LEASE_GRACE_MS } : {}),
    now,
  };
}

/** Whether a job is what this request asks for: the same endpoint (kind), prompt and options.
 * Options are stored as JSON built by the same code from the validated input, so the text compares. */
function sameRequest(job: Generation, kind: GenerationKind, args: OpenJobArgs): boolean {
  return job.kind === kind && job.prompt === args.prompt && job.options === JSON.stringify(args.options);
}

function keyReused(): StartRefusal {
  return {
    ok: false,
    reason: "idempotency_key_reused",
    message: "This Idempotency-Key was already used for a different request. Use a new key for a new request.",
  };
}

/** A refused open as its owner reads it. */
function refusalOf(refusal: OpenRefusal): StartRefusal {
  switch (refusal.reason) {
    case "account_flagged":
      return {
        ok: false,
        reason: refusal.reason,
        message: "This account is on hold because a payment was disputed. Generation is disabled until support clears it.",
      };
    case "too_many_running":
      return {
        ok: false,
        reason: "rate_limited",
        retryAfterSeconds: RUNNING_LIMIT_RETRY_SECONDS,
        message: `You already have ${refusal.running} video${refusal.running === 1 ? "" : "s"} in progress (at most ${refusal.limit}). Wait for one to finish.`,
      };
    case "insufficient_credits":
      return {
        ok: false,
        reason: refusal.reason,
        balance: refusal.balance,
        needed: refusal.needed,
        message: `Not enough credits: this costs ${refusal.needed} and your balance is ${refusal.balance}.`,
      };
    case "key_limit_reached":
      return {
        ok: false,
        reason: refusal.reason,
        limit: refusal.limit,
        spentThisMonth: refusal.spentThisMonth,
        needed: refusal.needed,
        message: `This API key's monthly limit is reached: it spent ${refusal.spentThisMonth} of its ${refusal.limit} credits this month (UTC) and this costs ${refusal.needed}.`,
      };
  }
}

/** The job as it is now, with the owner's balance. */
async function started(ctx: GenerationContext, userId: number, id: string, replayed = false): Promise<StartResult> {
  const { db } = ctx;
  const job = (await findGeneration(db, id))!;
  return { ok: true, job: toGenerationView(job), balance: await readSpendableBalance(db, userId), ...(replayed ? { replayed } : {}) };
}

/** The provider call, then the file and the posted hold; any failure voids the hold instead. */
async function runImage(ctx: GenerationContext, userId: number, job: Generation, input: ImageInput): Promise<void> {
  const { config, log, settler } = ctx;
  try {
    const file = await ctx.provider.generateImage(
      { prompt: input.prompt, size: input.size },
      { signal: AbortSignal.timeout(config.GENERATION_TIMEOUT_SECONDS * 1000) },
    );
    const resultPath = await ctx.results.write(userId, job.id, file);
    const done = await completeJob(settler, job.id, { resultPath, mimeType: file.mimeType });
    if (!done.ok) {
      await removeJobQuietly(ctx.results, userId, job.id, log);
      await failJob(settler, job.id, "The credit hold expired before the image was ready.", "hold_expired");
    }
  } catch (error) {
    await removeJobQuietly(ctx.results, userId, job.id, log);
    if (isDatabaseBusy(error)) {
      // The lock outlasted every retry of the post. The caller answers 503, so the job must not
      // be charged: it fails (its hold voided) as soon as the reconciler can write.
      settler.unsettled.remember(job.id, "The database was busy, so the image could not be saved.", "database_busy");
      throw error;
    }
    const failure = failureOf(error);
    if (failure.unexpected) log.error({ err: error, generationId: job.id }, "image generation failed unexpectedly");
    await failJob(settler, job.id, failure.message, failure.voidReason);
  }
}

/** An image within the request: `succeeded` (hold posted), `failed` (hold voided) or a refusal. */
export async function startImage(ctx: GenerationContext, userId: number, input: ImageInput, opts: StartOptions = {}): Promise<StartResult> {
  const opened = await openJob(ctx, userId, "image", {
    prompt: input.prompt,
    options: { size: input.size },
    cost: ctx.costs.image,
    description: `Image generation (${input.size})`,
    ...opts,
  });
  if (!opened.ok) return opened;
  if (opened.replayed) return started(ctx, userId, opened.job.id, true);
  await runImage(ctx, userId, opened.job, input);
  return started(ctx, userId, opened.job.id);
}

/** Places the hold and queues the video; the worker does the rest. */
export async function queueVideo(ctx: GenerationContext, userId: number, input: VideoInput, opts: StartOptions = {}): Promise<StartResult> {
  const opened = await openJob(ctx, userId, "video", {
    prompt: input.prompt,
    options: { resolution: input.resolution, durationSeconds: input.durationSeconds },
    cost: videoCost(ctx.config, input.resolution, input.durationSeconds),
    description: `Video generation (${input.resolution}, ${input.durationSeconds} s)`,
    ...opts,
  });
  if (!opened.ok) return opened;
  if (opened.replayed) return started(ctx, userId, opened.job.id, true);
  ctx.worker.enqueue(opened.job.id);
  return started(ctx, userId, opened.job.id);
}
