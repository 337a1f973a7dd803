import { z } from "zod";
import { IMAGE_SIZES, MAX_VIDEO_SECONDS, VIDEO_RESOLUTIONS } from "~/utils/generation-limits";

// The one interface every generation back-end implements, and the one error type it throws.
// A job places a credit hold, calls a provider, and posts the hold on success or voids it on ANY
// thrown error: so every failure a provider can have is a ProviderError with a code, never a bare
// Error, a hung promise, or a half-written file.

export { IMAGE_SIZES, MAX_VIDEO_SECONDS, VIDEO_RESOLUTIONS };
export const MAX_PROMPT_LENGTH = 4000;

const PromptSchema = z
  .string()
  .trim()
  .min(1, "prompt must not be empty")
  .max(MAX_PROMPT_LENGTH, `prompt must be at most ${MAX_PROMPT_LENGTH} characters`);

export const ImageRequestSchema = z.object({
  prompt: PromptSchema,
  size: z.enum(IMAGE_SIZES),
});

export const VideoRequestSchema = z.object({
  prompt: PromptSchema,
  resolution: z.enum(VIDEO_RESOLUTIONS),
  durationSeconds: z
    .number()
    .int("durationSeconds must be a whole number")
    .min(1, "durationSeconds must be at least 1")
    .max(MAX_VIDEO_SECONDS, `durationSeconds must be at most ${MAX_VIDEO_SECONDS}`),
});

export type ImageSize = (typeof IMAGE_SIZES)[number];
export type VideoResolution = (typeof VIDEO_RESOLUTIONS)[number];
export type ImageRequest = z.infer<typeof ImageRequestSchema>;
export type VideoRequest = z.infer<typeof VideoRequestSchema>;

/** A finished artefact: png (image), gif (local video preview) or mp4 (OpenAI video). */
export type GeneratedFile = { data: Buffer; mimeType: string; extension: string };

export type VideoJobState =
  | { status: "queued" | "in_progress"; progress: number } // progress 0..100
  | { status: "completed"; progress: 100 }
  | { status: "failed"; error: string };

export type CallOptions = { signal?: AbortSignal };

export interface GenerationProvider {
  readonly name: "local" | "openai" | (string & {});
  /** Resolves with the picture or throws ProviderError. */
  generateImage(req: ImageRequest, opts?: CallOptions): Promise<GeneratedFile>;
  /** Starts an asynchronous render and returns at once. Keep the id: it is all that is needed to resume. */
  startVideo(req: VideoRequest, opts?: CallOptions): Promise<{ providerJobId: string }>;
  /** Current state. A job that ended badly is `{ status: 'failed' }`; a call that could not be made throws. */
  getVideo(providerJobId: string, opts?: CallOptions): Promise<VideoJobState>;
  /** The rendered clip; only valid once getVideo said `completed`. */
  downloadVideo(providerJobId: string, opts?: CallOptions): Promise<GeneratedFile>;
}

/**
 * - `timeout`      our per-call deadline (or the caller's AbortSignal.timeout) passed. Retryable.
 * - `aborted`      the caller's signal aborted for another reason (e.g. shutdown). Retryable.
 * - `unavailable`  network failure, HTTP 429 or 5xx. Retryable.
 * - `rejected`     the request itself was refused: invalid input, 4xx, content policy, `[fail]` marker.
 * - `bad_response` the server answered 2xx with something we cannot use.
 * - `not_found`    unknown or expired job id (HTTP 404, or a local id that does not decode).
 */
export const PROVIDER_ERROR_CODES = ["timeout", "aborted", "unavailable", "rejected", "bad_response", "not_found"] as const;
export type ProviderErrorCode = (typeof PROVIDER_ERROR_CODES)[number];

const RETRYABLE_BY_DEFAULT: Record<ProviderErrorCode, boolean> = {
  timeout: true,
  aborted: true,
  unavailable: true,
  rejected: false,
  bad_response: false,
  not_found: false,
};

export type ProviderErrorOptions = {
  status?: number;
  retryable?: boolean;
  /** From a Retry-After header, when the server sent one. */
  retryAfterMs?: number;
  provider?: string;
  cause?: unknown;
};

export class ProviderError extends Error {
  readonly code: ProviderErrorCode;
  readonly status?: number;
  readonly retryable: boolean;
  readonly retryAfterMs?: number;
  readonly provider?: string;

  constructor(code: ProviderErrorCode, message: string, options: ProviderErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "ProviderError";
    this.code = code;
    this.status = options.status;
    this.retryable = options.retryable ?? RETRYABLE_BY_DEFAULT[code];
    this.retryAfterMs = options.retryAfterMs;
    this.provider = options.provider;
  }

  toJSON() {
    return { name: this.name, code: this.code, message: this.message, status: this.status, retryable: this.retryable };
  }
}

export function isProviderError(error: unknown): error is ProviderError {
  return error instanceof ProviderError;
}

/** Validates a request at the provider boundary; an invalid one is `rejected`, never sent anywhere. */
export function parseRequest<T extends z.ZodTypeAny>(schema: T, value: unknown, provider: string): z.output<T> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const detail = parsed.error.issues.map((i) => `${i.path.join(".") || "request"}: ${i.message}`).join("; ");
  throw new ProviderError("rejected", `invalid request: ${detail}`, { provider });
}
