import { z } from "zod";
import { readPngSize } from "./png.server";
import {
  ImageRequestSchema,
  ProviderError,
  VideoRequestSchema,
  parseRequest,
  type CallOptions,
  type GeneratedFile,
  type GenerationProvider,
  type ImageRequest,
  type ImageSize,
  type VideoJobState,
  type VideoRequest,
  type VideoResolution,
} from "./types";

// Any OpenAI-compatible server: the Images API (synchronous, base64 answer) and the Videos API
// (asynchronous: create, poll, download). One HTTP call per method, each with its own deadline.
// Every failure leaves as a ProviderError; nothing here retries (the caller owns that decision,
// because a retried POST may be billed twice by the provider).

const PROVIDER = "openai";

export type OpenAIProviderOptions = {
  /** e.g. https://api.openai.com/v1 — paths are appended to it. */
  baseUrl: string;
  /** Sent as `Authorization: Bearer …` when set (some self-hosted compatible servers need none). */
  apiKey?: string;
  imageModel: string;
  videoModel: string;
  /** Deadline for each HTTP call, including reading the body. */
  requestTimeoutMs: number;
  /** For tests. */
  fetch?: typeof fetch;
};

/** Clip lengths the Videos API accepts (as strings). */
export const OPENAI_VIDEO_SECONDS = ["4", "8", "12"] as const;

/** The shortest allowed clip at least as long as asked for (12 s at most). */
export function toOpenAIVideoSeconds(durationSeconds: number): (typeof OPENAI_VIDEO_SECONDS)[number] {
  return OPENAI_VIDEO_SECONDS.find((s) => Number(s) >= durationSeconds) ?? "12";
}

/**
 * Landscape sizes: 720p is 1280x720 (every Sora model). There is no 1920x1080; 1080p asks for the
 * largest landscape size, 1792x1024, which only sora-2-pro accepts (sora-2 answers 400 → rejected).
 */
export function toOpenAIVideoSize(resolution: VideoResolution): string {
  return resolution === "1080p" ? "1792x1024" : "1280x720";
}

/** gpt-image-* never take `response_format` (they always answer base64) and, like dall-e-3, only draw ≥1024. */
function isGptImageModel(model: string) {
  return /^gpt-image/i.test(model);
}

export function toOpenAIImageSize(model: string, size: ImageSize): string {
  return isGptImageModel(model) || /^dall-e-3/i.test(model) ? "1024x1024" : size;
}

const ImagesResponseSchema = z.object({
  data: z.array(z.object({ b64_json: z.string().nullish(), url: z.string().nullish() }).passthrough()),
});

const VideoSchema = z
  .object({
    id: z.string().min(1),
    status: z.enum(["queued", "in_progress", "completed", "failed"]),
    progress: z.number().nullish(),
    error: z.object({ code: z.string().nullish(), message: z.string().nullish() }).passthrough().nullish(),
  })
  .passthrough();

const ErrorBodySchema = z.object({
  error: z.union([z.object({ message: z.string().nullish(), code: z.unknown() }).passthrough(), z.string()]),
});

function sniffImage(data: Buffer): { mimeType: string; extension: string } | null {
  if (readPngSize(data)) return { mimeType: "image/png", extension: "png" };
  if (data.length > 3 && data[0] === 0xff && data[1] === 0xd8 && data[2] === 0xff) {
    return { mimeType: "image/jpeg", extension: "jpg" };
  }
  if (data.length > 12 && data.toString("latin1", 0, 4) === "RIFF" && data.toString("latin1", 8, 12) === "WEBP") {
    return { mimeType: "image/webp", extension: "webp" };
  }
  return null;
}

function parseRetryAfter(header: string | null): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.round(seconds * 1000);
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

export function createOpenAIProvider(options: OpenAIProviderOptions): GenerationProvider {
  const baseUrl = options.baseUrl.replace(/\/+$/, "");
  const doFetch = options.fetch ?? fetch;
  const apiKey = options.apiKey?.trim() || undefined;

  /** Never let the key leave in a message, whatever a server or a library put into it. */
  const redact = (text: string) => (apiKey ? text.split(apiKey).join("[redacted]") : text);
  const fail = (code: ProviderError["code"], message: string, extra: ConstructorParameters<typeof ProviderError>[2] = {}) =>
    new ProviderError(code, redact(message), { provider: PROVIDER, ...extra });

  /**
   * One HTTP call with a deadline that also covers reading the body. Answers 2xx with the body
   * read by `read`; everything else becomes a ProviderError.
   */
  async function call<T>(
    what: string,
    path: string,
    init: { method: "GET" | "POST"; body?: BodyInit; headers?: Record<string, string> },
    read: (res: Response) => Promise<T>,
    callOptions: CallOptions,
  ): Promise<T> {
    const deadline = AbortSignal.timeout(options.requestTimeoutMs);
    const signal = callOptions.signal ? AbortSignal.any([callOptions.signal, deadline]) : deadline;
    const headers: Record<string, string> = { ...init.headers };
    if (apiKey) headers.Authorization = `Bearer ${apiKey}`;

    const abortError = (cause: unknown) => {
      const callerReason: unknown = callOptions.signal?.aborted ? callOptions.signal.reason : undefined;
      const timedOut =
        deadline.aborted || (callerReason instanceof Error && callerReason.name === "TimeoutError");
      return timedOut
        ? fail("timeout", `${what}: no answer within ${options.requestTimeoutMs} ms`, { cause })
        : fail("aborted", `${what}: aborted by the caller`, { cause });
    };

    let res: Response;
    try {
      res = await doFetch(`${baseUrl}${path}`, { method: init.method, headers, body: init.body, signal });
    } catch (error) {
      if (signal.aborted) throw abortError(error);
      const detail = error instanceof Error ? describeNetworkError(error) : String(error);
      throw fail("unavailable", `${what}: could not reach the server (${detail})`, { cause: error });
    }

    if (!res.ok) {
      let serverMessage = "";
      try {
        const text = await res.text();
        const parsed = ErrorBodySchema.safeParse(safeJson(text));
        serverMessage = parsed.success
          ? typeof parsed.data.error === "string"
            ? parsed.data.error
            : (parsed.data.error.message ?? "")
          : text.slice(0, 200).trim();
      } catch (error) {
        if (signal.aborted) throw abortError(error);
      }
      const status = res.status;
      const message = `${what}: HTTP ${status}${serverMessage ? ` — ${serverMessage}` : ""}`;
      const retryAfterMs = parseRetryAfter(res.headers.get("retry-after"));
      if (status === 429 || status >= 500) throw fail("unavailable", message, { status, retryAfterMs });
      if (status === 404) throw fail("not_found", message, { status });
      throw fail("rejected", message, { status });
    }

    try {
      return await read(res);
    } catch (error) {
      if (error instanceof ProviderError) throw error;
      if (signal.aborted) throw abortError(error);
      const detail = error instanceof Error ? error.message : String(error);
      throw fail("bad_response", `${what}: could not read the answer (${detail})`, { status: res.status, cause: error });
    }
  }

  async function readJson<S extends z.ZodTypeAny>(what: string, res: Response, schema: S): Promise<z.output<S>> {
    const text = await res.text();
    const json = safeJson(text);
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const detail = json === undefined ? "not JSON" : `${issue?.path.join(".") || "body"}: ${issue?.message}`;
      throw fail("bad_response", `${what}: unexpected answer (${detail})`, { status: res.status });
    }
    return parsed.data;
  }

  function videoPath(providerJobId: string) {
    if (typeof providerJobId !== "string" || providerJobId.length === 0) {
      throw fail("not_found", "empty video id");
    }
    return `/videos/${encodeURIComponent(providerJobId)}`;
  }

  return {
    name: PROVIDER,

    async generateImage(req: ImageRequest, opts: CallOptions = {}): Promise<GeneratedFile> {
      const { prompt, size } = parseRequest(ImageRequestSchema, req, PROVIDER);
      const model = options.imageModel;
      const body: Record<string, unknown> = { model, prompt, n: 1, size: toOpenAIImageSize(model, size) };
      if (!isGptImageModel(model)) body.response_format = "b64_json";
      const what = "image generation";

      return call(
        what,
        "/images/generations",
        { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) },
        async (res) => {
          const answer = await readJson(what, res, ImagesResponseSchema);
          const first = answer.data[0];
          if (!first?.b64_json) {
            const got = !first ? "no images" : first.url ? "a URL instead of base64" : "no image data";
            throw fail("bad_response", `${what}: the answer has no data[0].b64_json (got ${got})`, { status: res.status });
          }
          const data = Buffer.from(first.b64_json, "base64");
          const kind = sniffImage(data);
          if (!kind) throw fail("bad_response", `${what}: data[0].b64_json is not a PNG, JPEG or WebP image`);
          return { data, ...kind };
        },
        opts,
      );
    },

    async startVideo(req: VideoRequest, opts: CallOptions = {}) {
      const { prompt, resolution, durationSeconds } = parseRequest(VideoRequestSchema, req, PROVIDER);
      // multipart/form-data, as in the API reference (the JSON form is newer and not every
      // compatible server has it).
      const form = new FormData();
      form.set("model", options.videoModel);
      form.set("prompt", prompt);
      form.set("seconds", toOpenAIVideoSeconds(durationSeconds));
      form.set("size", toOpenAIVideoSize(resolution));
      const what = "video creation";
      return call(what, "/videos", { method: "POST", body: form }, async (res) => {
        const video = await readJson(what, res, VideoSchema);
        return { providerJobId: video.id };
      }, opts);
    },

    async getVideo(providerJobId: string, opts: CallOptions = {}): Promise<VideoJobState> {
      const what = "video status";
      return call(what, videoPath(providerJobId), { method: "GET" }, async (res) => {
        const video = await readJson(what, res, VideoSchema);
        switch (video.status) {
          case "completed":
            return { status: "completed", progress: 100 };
          case "failed":
            return { status: "failed", error: redact(video.error?.message || video.error?.code || "video generation failed") };
          default:
            return { status: video.status, progress: Math.min(100, Math.max(0, Math.round(video.progress ?? 0))) };
        }
      }, opts);
    },

    async downloadVideo(providerJobId: string, opts: CallOptions = {}): Promise<GeneratedFile> {
      const what = "video download";
      return call(
        what,
        `${videoPath(providerJobId)}/content`,
        { method: "GET", headers: { Accept: "application/binary" } },
        async (res) => {
          const type = res.headers.get("content-type") ?? "";
          const data = Buffer.from(await res.arrayBuffer());
          if (type.includes("json") || type.startsWith("text/")) {
            throw fail("bad_response", `${what}: expected video bytes, got ${type}`, { status: res.status });
          }
          if (data.length === 0) throw fail("bad_response", `${what}: empty body`, { status: res.status });
          return { data, mimeType: "video/mp4", extension: "mp4" };
        },
        opts,
      );
    },
  };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** "fetch failed" says nothing; the useful part (ECONNREFUSED, ENOTFOUND…) is in the cause. */
function describeNetworkError(error: Error): string {
  const cause = error.cause as { code?: unknown; message?: unknown } | undefined;
  if (cause && typeof cause.code === "string") return cause.code;
  if (cause && typeof cause.message === "string") return cause.message;
  return error.message;
}
