import { createHash, randomBytes } from "node:crypto";
import { z } from "zod";
import { renderAnimation, renderImage, seedFromPrompt } from "./local-art.server";
import {
  ImageRequestSchema,
  MAX_VIDEO_SECONDS,
  ProviderError,
  VIDEO_RESOLUTIONS,
  VideoRequestSchema,
  parseRequest,
  type CallOptions,
  type GeneratedFile,
  type GenerationProvider,
  type ImageRequest,
  type VideoJobState,
  type VideoRequest,
  type VideoResolution,
} from "./types";

// The built-in provider: no network, no keys, no state. Pictures are drawn from a hash of the
// prompt; a "video" is a small looping GIF preview whose render time is simulated. Everything a
// video job needs (seed, resolution, duration, start time, render time) travels inside its
// providerJobId, so any instance, in any process, after any restart, can report on it and deliver it.

const PROVIDER = "local";

/** A prompt containing this (any case) fails on purpose: images are rejected, videos end failed. */
export const LOCAL_FAIL_MARKER = "[fail]";
/** Prefix of every local video job id; the version lets the format change without misreading old ids. */
export const LOCAL_JOB_ID_PREFIX = "local-v1.";

/** GIF preview frame sizes: 16:9, small on purpose (it is a preview, not the real resolution). */
export const LOCAL_PREVIEW_SIZES: Record<VideoResolution, { width: number; height: number }> = {
  "720p": { width: 320, height: 180 },
  "1080p": { width: 480, height: 270 },
};

export type LocalProviderOptions = {
  /** How long a video "renders" before it completes, so progress can be watched. 0 = at once. */
  videoDurationMs: number;
  /** Clock, for tests. */
  now?: () => number;
};

const LocalJobSchema = z.object({
  s: z.string().regex(/^[0-9a-f]{16}$/), // prompt seed
  r: z.enum(VIDEO_RESOLUTIONS),
  d: z.number().int().min(1).max(MAX_VIDEO_SECONDS), // clip seconds
  t: z.number().int().nonnegative(), // started at, epoch ms
  w: z.number().int().nonnegative(), // render time, ms (fixed when the job starts)
  f: z.literal(1).optional(), // fails on purpose
  n: z.string().regex(/^[\w-]{1,32}$/), // nonce: two identical starts get two ids
});
export type LocalVideoJob = z.infer<typeof LocalJobSchema>;

function checksum(payload: string) {
  return createHash("sha256").update(payload).digest("hex").slice(0, 8);
}

export function encodeLocalJobId(job: LocalVideoJob): string {
  const payload = Buffer.from(JSON.stringify(LocalJobSchema.parse(job)), "utf8").toString("base64url");
  return `${LOCAL_JOB_ID_PREFIX}${payload}.${checksum(payload)}`;
}

/** Decodes an id made by encodeLocalJobId; anything else is `not_found`. */
export function decodeLocalJobId(providerJobId: string): LocalVideoJob {
  const notFound = () =>
    new ProviderError("not_found", `not a local video job id: ${JSON.stringify(providerJobId.slice(0, 40))}`, {
      provider: PROVIDER,
    });
  if (typeof providerJobId !== "string" || !providerJobId.startsWith(LOCAL_JOB_ID_PREFIX)) throw notFound();
  const [payload, sum, ...rest] = providerJobId.slice(LOCAL_JOB_ID_PREFIX.length).split(".");
  if (!payload || rest.length > 0 || sum !== checksum(payload)) throw notFound();
  try {
    return LocalJobSchema.parse(JSON.parse(Buffer.from(payload, "base64url").toString("utf8")));
  } catch {
    throw notFound();
  }
}

function hasFailMarker(prompt: string) {
  return prompt.toLowerCase().includes(LOCAL_FAIL_MARKER);
}

function throwIfAborted(signal: AbortSignal | undefined) {
  if (!signal?.aborted) return;
  const reason: unknown = signal.reason;
  const isTimeout = reason instanceof Error && reason.name === "TimeoutError";
  throw new ProviderError(isTimeout ? "timeout" : "aborted", isTimeout ? "timed out" : "aborted by the caller", {
    provider: PROVIDER,
    cause: reason,
  });
}

/** State of a job at `now`: queued for the first tenth, then in progress, then completed (or failed halfway). */
export function localVideoState(job: LocalVideoJob, now: number): VideoJobState {
  const elapsed = Math.max(0, now - job.t);
  const fraction = job.w === 0 ? 1 : elapsed / job.w;
  if (job.f && fraction >= 0.5) {
    return { status: "failed", error: `the prompt contains the ${LOCAL_FAIL_MARKER} marker (local provider)` };
  }
  if (fraction >= 1) return { status: "completed", progress: 100 };
  if (fraction < 0.1) return { status: "queued", progress: 0 };
  return { status: "in_progress", progress: Math.min(99, Math.max(1, Math.floor(fraction * 100))) };
}

export function createLocalProvider(options: LocalProviderOptions): GenerationProvider {
  const videoDurationMs = Math.max(0, Math.round(options.videoDurationMs));
  const now = options.now ?? Date.now;

  return {
    name: PROVIDER,

    async generateImage(req: ImageRequest, opts: CallOptions = {}): Promise<GeneratedFile> {
      const { prompt, size } = parseRequest(ImageRequestSchema, req, PROVIDER);
      throwIfAborted(opts.signal);
      if (hasFailMarker(prompt)) {
        throw new ProviderError("rejected", `the prompt contains the ${LOCAL_FAIL_MARKER} marker (local provider)`, {
          provider: PROVIDER,
        });
      }
      const [width, height] = size.split("x").map(Number);
      return { data: renderImage(prompt, width, height), mimeType: "image/png", extension: "png" };
    },

    async startVideo(req: VideoRequest, opts: CallOptions = {}) {
      const { prompt, resolution, durationSeconds } = parseRequest(VideoRequestSchema, req, PROVIDER);
      throwIfAborted(opts.signal);
      const job: LocalVideoJob = {
        s: seedFromPrompt(prompt),
        r: resolution,
        d: durationSeconds,
        t: Math.floor(now()),
        w: videoDurationMs,
        n: randomBytes(6).toString("base64url"),
        ...(hasFailMarker(prompt) ? { f: 1 as const } : {}),
      };
      return { providerJobId: encodeLocalJobId(job) };
    },

    async getVideo(providerJobId: string, opts: CallOptions = {}) {
      throwIfAborted(opts.signal);
      return localVideoState(decodeLocalJobId(providerJobId), now());
    },

    async downloadVideo(providerJobId: string, opts: CallOptions = {}): Promise<GeneratedFile> {
      throwIfAborted(opts.signal);
      const job = decodeLocalJobId(providerJobId);
      const state = localVideoState(job, now());
      if (state.status === "failed") {
        throw new ProviderError("rejected", `video failed: ${state.error}`, { provider: PROVIDER });
      }
      if (state.status !== "completed") {
        // Not an error of the job: asking again later will succeed.
        throw new ProviderError("rejected", `video is not ready yet (${state.status}, ${state.progress}%)`, {
          provider: PROVIDER,
          retryable: true,
        });
      }
      const { width, height } = LOCAL_PREVIEW_SIZES[job.r];
      return { data: renderAnimation(job.s, width, height, job.d), mimeType: "image/gif", extension: "gif" };
    },
  };
}
