import { createHash, randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { pathToFileURL } from "node:url";
import { encodeRgbPng } from "../../app/services/providers/png.server";

// A fake OpenAI-compatible server for tests: the Images API (POST /v1/images/generations) and the
// Videos API (POST /v1/videos, GET /v1/videos/{id}, GET /v1/videos/{id}/content), with the real
// shapes, auth and validation errors, and switches to misbehave on demand. State lives in memory
// for the life of the server, so an app restarted mid-test still finds its video jobs here.

export const FAKE_OPENAI_API_KEY = "sk-test-fake-openai-key-0123456789";

export type FakeOpenAIBehaviour = {
  /** Answer matching calls with this HTTP status and an OpenAI-style error body. */
  fail?: {
    status: number;
    /** How many calls to fail, then behave again. Omitted = every call. */
    times?: number;
    message?: string;
    /** Which calls: a path prefix after /v1 (e.g. "/images", "/videos") — default all. */
    only?: string;
    /** Retry-After header to send, in seconds. */
    retryAfterSeconds?: number;
  };
  /** Wait this long before answering every call (to trigger client timeouts). */
  delayMs?: number;
  /** How long a new video job takes from created to completed. Default 300 ms. */
  videoDurationMs?: number;
  /** New video jobs end `failed` halfway with this message. */
  failVideos?: string | false;
  /** What POST /images/generations puts in data[0]: the real b64_json, only a url, or nothing. */
  imageAnswer?: "b64_json" | "url" | "empty";
};

export type FakeOpenAIOptions = FakeOpenAIBehaviour & {
  /** The key the server accepts (Authorization: Bearer …). Default FAKE_OPENAI_API_KEY. */
  apiKey?: string;
};

export type RecordedRequest = {
  method: string;
  /** Path after the /v1 prefix, with the query string, e.g. "/videos/video_abc/content". */
  path: string;
  /** Parsed JSON or multipart/urlencoded fields; raw text otherwise; null when empty. */
  body: unknown;
  contentType: string | null;
  authorized: boolean;
};

export type FakeVideo = {
  id: string;
  model: string;
  prompt: string;
  seconds: string;
  size: string;
  createdAtMs: number;
  durationMs: number;
  failWith: string | null;
};

export type FakeOpenAI = {
  /** Base URL including /v1, ready for OPENAI_BASE_URL. */
  url: string;
  apiKey: string;
  requests: RecordedRequest[];
  videos: Map<string, FakeVideo>;
  /** Replaces the behaviour: anything not given returns to what startFakeOpenAI was given. */
  setBehaviour(behaviour: FakeOpenAIBehaviour): void;
  close(): Promise<void>;
};

const IMAGE_SIZES_BY_MODEL: Array<[RegExp, string[]]> = [
  [/^gpt-image/, ["1024x1024", "1536x1024", "1024x1536", "auto"]],
  [/^dall-e-3/, ["1024x1024", "1792x1024", "1024x1792"]],
  [/^dall-e-2/, ["256x256", "512x512", "1024x1024"]],
  [/./, ["256x256", "512x512", "1024x1024", "1536x1024", "1024x1536", "1792x1024", "1024x1792", "auto"]],
];
const VIDEO_SECONDS = ["4", "8", "12"];
const VIDEO_SIZES_BY_MODEL: Array<[RegExp, string[]]> = [
  [/^sora-2-pro/, ["720x1280", "1280x720", "1024x1792", "1792x1024"]],
  [/./, ["720x1280", "1280x720"]],
];

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type = "invalid_request_error",
    readonly param: string | null = null,
    readonly code: string | null = null,
  ) {
    super(message);
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), ...headers });
  res.end(text);
}

function sendError(res: ServerResponse, error: HttpError, headers: Record<string, string> = {}) {
  sendJson(res, error.status, { error: { message: error.message, type: error.type, param: error.param, code: error.code } }, headers);
}

async function readBody(req: IncomingMessage, path: string): Promise<{ raw: Buffer; body: unknown }> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const raw = Buffer.concat(chunks);
  if (raw.length === 0) return { raw, body: null };
  const type = req.headers["content-type"] ?? "";
  if (type.includes("application/json")) {
    try {
      return { raw, body: JSON.parse(raw.toString("utf8")) };
    } catch {
      throw new HttpError(400, "We could not parse the JSON body of your request.");
    }
  }
  if (type.includes("multipart/form-data") || type.includes("application/x-www-form-urlencoded")) {
    // Let undici's Request parse the form: it is the same parser fetch uses on the other side.
    const form = await new Request(`http://fake${path}`, { method: "POST", headers: { "content-type": type }, body: raw }).formData();
    const fields: Record<string, string> = {};
    form.forEach((value, key) => {
      fields[key] = typeof value === "string" ? value : `[file ${value.name}]`;
    });
    return { raw, body: fields };
  }
  return { raw, body: raw.toString("utf8") };
}

/** A small but real PNG: a two-colour diagonal derived from the prompt, at the asked size. */
function fakePng(prompt: string, size: string): Buffer {
  const [width, height] = size === "auto" ? [1024, 1024] : size.split("x").map(Number);
  const hash = createHash("sha256").update(prompt).digest();
  const rgb = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 3;
      const k = (x + y) / (width + height);
      rgb[o] = hash[0] * (1 - k) + hash[3] * k;
      rgb[o + 1] = hash[1] * (1 - k) + hash[4] * k;
      rgb[o + 2] = hash[2] * (1 - k) + hash[5] * k;
    }
  }
  return encodeRgbPng(width, height, rgb);
}

/** Bytes that start like an MP4 (an ftyp box) followed by an mdat box naming the video. */
function fakeMp4(video: FakeVideo): Buffer {
  const box = (type: string, payload: Buffer) => {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(8 + payload.length, 0);
    head.write(type, 4, "latin1");
    return Buffer.concat([head, payload]);
  };
  const ftyp = box("ftyp", Buffer.concat([Buffer.from("isom", "latin1"), Buffer.from([0, 0, 2, 0]), Buffer.from("isomiso2mp41", "latin1")]));
  const mdat = box("mdat", Buffer.from(`fake video ${video.id} ${video.size} ${video.seconds}s: ${video.prompt}`, "utf8"));
  return Buffer.concat([ftyp, mdat]);
}

function pickFor(model: string, table: Array<[RegExp, string[]]>): string[] {
  return table.find(([pattern]) => pattern.test(model))![1];
}

export async function startFakeOpenAI(options: FakeOpenAIOptions = {}): Promise<FakeOpenAI> {
  const { apiKey = FAKE_OPENAI_API_KEY, ...initial } = options;
  let behaviour: FakeOpenAIBehaviour = { ...initial };
  let failuresLeft = behaviour.fail?.times;
  const requests: RecordedRequest[] = [];
  const videos = new Map<string, FakeVideo>();
  const timers = new Set<NodeJS.Timeout>();

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        timers.delete(timer);
        resolve();
      }, ms);
      timers.add(timer);
    });

  function videoObject(video: FakeVideo, now = Date.now()) {
    const fraction = video.durationMs === 0 ? 1 : (now - video.createdAtMs) / video.durationMs;
    const created = Math.floor(video.createdAtMs / 1000);
    const base = {
      id: video.id,
      object: "video",
      model: video.model,
      created_at: created,
      completed_at: null as number | null,
      expires_at: null as number | null,
      error: null as { code: string; message: string } | null,
      prompt: video.prompt,
      remixed_from_video_id: null,
      seconds: video.seconds,
      size: video.size,
    };
    if (video.failWith && fraction >= 0.5) {
      return { ...base, status: "failed", progress: 50, error: { code: "video_generation_failed", message: video.failWith } };
    }
    if (fraction >= 1) {
      const done = Math.floor((video.createdAtMs + video.durationMs) / 1000);
      return { ...base, status: "completed", progress: 100, completed_at: done, expires_at: done + 3600 };
    }
    if (fraction < 0.1) return { ...base, status: "queued", progress: 0 };
    return { ...base, status: "in_progress", progress: Math.floor(fraction * 100) };
  }

  function requireString(body: Record<string, unknown>, name: string, required = true): string | undefined {
    const value = body[name];
    if (value === undefined || value === null || value === "") {
      if (required) throw new HttpError(400, `Missing required parameter: '${name}'.`, "invalid_request_error", name, "missing_required_parameter");
      return undefined;
    }
    if (typeof value !== "string") {
      throw new HttpError(400, `Invalid type for '${name}': expected a string, but got ${typeof value} instead.`, "invalid_request_error", name, "invalid_type");
    }
    return value;
  }

  function requireOneOf(name: string, value: string, allowed: string[], model: string) {
    if (!allowed.includes(value)) {
      throw new HttpError(
        400,
        `Invalid value for '${name}': '${value}' is not supported with model '${model}'. Supported values are: ${allowed.map((a) => `'${a}'`).join(", ")}.`,
        "invalid_request_error",
        name,
        "invalid_value",
      );
    }
  }

  async function route(method: string, path: string, body: unknown, res: ServerResponse) {
    const asObject = (b: unknown): Record<string, unknown> => {
      if (!b || typeof b !== "object" || Array.isArray(b)) throw new HttpError(400, "The request body must be a JSON object or form.");
      return b as Record<string, unknown>;
    };
    const pathname = path.split("?")[0];

    if (method === "POST" && pathname === "/images/generations") {
      const b = asObject(body);
      const prompt = requireString(b, "prompt")!;
      const model = requireString(b, "model", false) ?? "dall-e-2";
      const size = requireString(b, "size", false) ?? (model.startsWith("dall-e") ? "1024x1024" : "auto");
      requireOneOf("size", size, pickFor(model, IMAGE_SIZES_BY_MODEL), model);
      const n = b.n ?? 1;
      if (typeof n !== "number" || !Number.isInteger(n) || n < 1 || n > 10) {
        throw new HttpError(400, `Invalid value for 'n': expected an integer from 1 to 10.`, "invalid_request_error", "n", "invalid_value");
      }
      const format = b.response_format;
      if (format !== undefined && /^gpt-image/.test(model)) {
        throw new HttpError(400, "Unknown parameter: 'response_format'.", "invalid_request_error", "response_format", "unknown_parameter");
      }
      if (format !== undefined && format !== "url" && format !== "b64_json") {
        throw new HttpError(400, `Invalid value for 'response_format': '${String(format)}'.`, "invalid_request_error", "response_format", "invalid_value");
      }
      const answer = behaviour.imageAnswer ?? "b64_json";
      const wantsUrl = format === "url" || (format === undefined && model.startsWith("dall-e"));
      const created = Math.floor(Date.now() / 1000);
      const items = Array.from({ length: n }, (_, i) => {
        if (answer === "empty") return {};
        if (answer === "url" || wantsUrl) {
          return { url: `https://fake-openai.invalid/images/img-${randomBytes(8).toString("hex")}-${i}.png`, revised_prompt: prompt };
        }
        return { b64_json: fakePng(`${prompt}#${i}`, size).toString("base64"), revised_prompt: prompt };
      });
      return sendJson(res, 200, {
        created,
        data: items,
        ...(/^gpt-image/.test(model) ? { usage: { input_tokens: 12, output_tokens: 4160, total_tokens: 4172 } } : {}),
      });
    }

    if (method === "POST" && pathname === "/videos") {
      const b = asObject(body);
      const prompt = requireString(b, "prompt")!;
      const model = requireString(b, "model", false) ?? "sora-2";
      if (!/^sora-2/.test(model)) {
        throw new HttpError(400, `Invalid value for 'model': '${model}'. Supported values are: 'sora-2' and 'sora-2-pro'.`, "invalid_request_error", "model", "invalid_value");
      }
      const seconds = requireString(b, "seconds", false) ?? "4";
      requireOneOf("seconds", seconds, VIDEO_SECONDS, model);
      const size = requireString(b, "size", false) ?? "720x1280";
      requireOneOf("size", size, pickFor(model, VIDEO_SIZES_BY_MODEL), model);
      const video: FakeVideo = {
        id: `video_${randomBytes(16).toString("hex")}`,
        model,
        prompt,
        seconds,
        size,
        createdAtMs: Date.now(),
        durationMs: behaviour.videoDurationMs ?? 300,
        failWith: behaviour.failVideos || null,
      };
      videos.set(video.id, video);
      return sendJson(res, 200, videoObject(video));
    }

    const match = /^\/videos\/([^/]+)(\/content)?$/.exec(pathname);
    if (method === "GET" && match) {
      const id = decodeURIComponent(match[1]);
      const video = videos.get(id);
      if (!video) throw new HttpError(404, `Video with id '${id}' not found.`, "invalid_request_error", null, "video_not_found");
      const state = videoObject(video);
      if (!match[2]) return sendJson(res, 200, state);
      const variant = new URLSearchParams(path.split("?")[1] ?? "").get("variant") ?? "video";
      if (variant !== "video") throw new HttpError(400, `The fake server only serves variant 'video', not '${variant}'.`);
      if (state.status !== "completed") {
        throw new HttpError(400, `Video is not ready yet, use GET /v1/videos/${id} to check status.`, "invalid_request_error", null, "video_not_ready");
      }
      const bytes = fakeMp4(video);
      res.writeHead(200, { "content-type": "video/mp4", "content-length": bytes.length });
      return res.end(bytes);
    }

    throw new HttpError(404, `Invalid URL (${method} /v1${pathname})`);
  }

  const server = createServer(async (req, res) => {
    const method = req.method ?? "GET";
    const url = req.url ?? "/";
    try {
      if (!url.startsWith("/v1/")) throw new HttpError(404, `Invalid URL (${method} ${url})`);
      const path = url.slice(3);
      const authorized = req.headers.authorization === `Bearer ${apiKey}`;
      let parsed: { body: unknown };
      try {
        parsed = await readBody(req, path);
      } catch (error) {
        requests.push({ method, path, body: null, contentType: req.headers["content-type"] ?? null, authorized });
        throw error;
      }
      requests.push({ method, path, body: parsed.body, contentType: req.headers["content-type"] ?? null, authorized });

      if (behaviour.delayMs) await sleep(behaviour.delayMs);
      if (res.destroyed) return;

      if (!authorized) {
        throw new HttpError(
          401,
          req.headers.authorization
            ? "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys."
            : "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
          "invalid_request_error",
          null,
          "invalid_api_key",
        );
      }

      const fail = behaviour.fail;
      if (fail && (!fail.only || path.startsWith(fail.only)) && (failuresLeft === undefined || failuresLeft > 0)) {
        if (failuresLeft !== undefined) failuresLeft--;
        const type = fail.status === 429 ? "requests" : fail.status >= 500 ? "server_error" : "invalid_request_error";
        const message = fail.message ?? (fail.status === 429 ? "Rate limit reached for requests." : fail.status >= 500 ? "The server had an error while processing your request. Sorry about that!" : "Invalid request.");
        const headers: Record<string, string> = fail.retryAfterSeconds !== undefined ? { "retry-after": String(fail.retryAfterSeconds) } : {};
        return sendError(res, new HttpError(fail.status, message, type, null, fail.status === 429 ? "rate_limit_exceeded" : null), headers);
      }

      await route(method, path, parsed.body, res);
    } catch (error) {
      if (res.headersSent || res.destroyed) return;
      if (error instanceof HttpError) return sendError(res, error);
      sendError(res, new HttpError(500, `The fake server failed: ${error instanceof Error ? error.message : String(error)}`, "server_error"));
    }
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/v1`,
    apiKey,
    requests,
    videos,
    setBehaviour(next) {
      behaviour = { ...initial, ...next };
      failuresLeft = behaviour.fail?.times;
    },
    async close() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

// Run on its own for manual testing or a browser test run:
//   npx tsx tests/mocks/openai-server.ts   (FAKE_OPENAI_VIDEO_MS=5000 to watch progress)
// then start the app with GENERATION_PROVIDER=openai OPENAI_BASE_URL=<printed url> OPENAI_API_KEY=<printed key>.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const videoDurationMs = Number(process.env.FAKE_OPENAI_VIDEO_MS ?? 5_000);
  void startFakeOpenAI({ videoDurationMs }).then((fake) => {
    console.log(`fake OpenAI listening: OPENAI_BASE_URL=${fake.url} OPENAI_API_KEY=${fake.apiKey}`);
    const stop = () => void fake.close().then(() => process.exit(0));
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
}
