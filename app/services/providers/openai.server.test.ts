import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { startFakeOpenAI, type FakeOpenAI } from "../../../tests/mocks/openai-server";
import { inspectPng } from "../../../tests/support/file-formats";
import { createOpenAIProvider, toOpenAIVideoSeconds, toOpenAIVideoSize, type OpenAIProviderOptions } from "./openai.server";
import { ProviderError, type GenerationProvider, type VideoJobState } from "./types";

let fake: FakeOpenAI;

beforeAll(async () => {
  fake = await startFakeOpenAI({ videoDurationMs: 300 });
});
afterAll(async () => {
  await fake.close();
});
afterEach(() => {
  fake.setBehaviour({});
  fake.requests.length = 0;
});

function provider(overrides: Partial<OpenAIProviderOptions> = {}): GenerationProvider {
  return createOpenAIProvider({
    baseUrl: fake.url,
    apiKey: fake.apiKey,
    imageModel: "gpt-image-1",
    videoModel: "sora-2",
    requestTimeoutMs: 2_000,
    ...overrides,
  });
}

async function caught(promise: Promise<unknown>): Promise<ProviderError> {
  const error = await promise.then(
    () => {
      throw new Error("expected the call to fail");
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ProviderError);
  const providerError = error as ProviderError;
  // Whatever went wrong, the key is never in what the caller may log or show.
  expect(providerError.message).not.toContain(fake.apiKey);
  expect(JSON.stringify(providerError)).not.toContain(fake.apiKey);
  expect(String(providerError.stack)).not.toContain(fake.apiKey);
  return providerError;
}

async function pollUntilDone(p: GenerationProvider, id: string): Promise<VideoJobState[]> {
  const states: VideoJobState[] = [];
  for (let i = 0; i < 100; i++) {
    const state = await p.getVideo(id);
    states.push(state);
    if (state.status === "completed" || state.status === "failed") return states;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error("video never finished");
}

describe("openai provider: images", () => {
  test("gpt-image-1: sends the Images API request and returns the PNG", async () => {
    const file = await provider().generateImage({ prompt: "a lighthouse", size: "1024x1024" });
    expect(file.mimeType).toBe("image/png");
    expect(file.extension).toBe("png");
    expect(inspectPng(file.data)).toMatchObject({ width: 1024, height: 1024 });

    expect(fake.requests).toHaveLength(1);
    expect(fake.requests[0]).toMatchObject({
      method: "POST",
      path: "/images/generations",
      authorized: true,
      body: { model: "gpt-image-1", prompt: "a lighthouse", n: 1, size: "1024x1024" },
    });
    // gpt-image models refuse response_format (they always answer base64).
    expect(fake.requests[0].body).not.toHaveProperty("response_format");
  });

  test("gpt-image-1 cannot draw 256x256, so 1024x1024 is asked for", async () => {
    const file = await provider().generateImage({ prompt: "tiny", size: "256x256" });
    expect(inspectPng(file.data).width).toBe(1024);
    expect(fake.requests[0].body).toMatchObject({ size: "1024x1024" });
  });

  test("dall-e-2 style servers are asked for b64_json at the exact size", async () => {
    const file = await provider({ imageModel: "dall-e-2" }).generateImage({ prompt: "a fox", size: "512x512" });
    expect(inspectPng(file.data)).toMatchObject({ width: 512, height: 512 });
    expect(fake.requests[0].body).toMatchObject({ model: "dall-e-2", size: "512x512", response_format: "b64_json", n: 1 });
  });

  test("an answer without data[0].b64_json is a bad_response", async () => {
    fake.setBehaviour({ imageAnswer: "url" });
    const error = await caught(provider().generateImage({ prompt: "x", size: "1024x1024" }));
    expect(error).toMatchObject({ code: "bad_response", retryable: false });
    expect(error.message).toContain("b64_json");

    fake.setBehaviour({ imageAnswer: "empty" });
    expect(await caught(provider().generateImage({ prompt: "x", size: "1024x1024" }))).toMatchObject({ code: "bad_response" });
  });

  test("HTTP 500 is unavailable and retryable", async () => {
    fake.setBehaviour({ fail: { status: 500, times: 1 } });
    const error = await caught(provider().generateImage({ prompt: "x", size: "1024x1024" }));
    expect(error).toMatchObject({ code: "unavailable", status: 500, retryable: true, provider: "openai" });
    expect(error.message).toContain("HTTP 500");
    // Only the next call failed; the one after works.
    await expect(provider().generateImage({ prompt: "x", size: "1024x1024" })).resolves.toMatchObject({ mimeType: "image/png" });
  });

  test("HTTP 429 is retryable and carries Retry-After", async () => {
    fake.setBehaviour({ fail: { status: 429, retryAfterSeconds: 7 } });
    const error = await caught(provider().generateImage({ prompt: "x", size: "1024x1024" }));
    expect(error).toMatchObject({ code: "unavailable", status: 429, retryable: true, retryAfterMs: 7_000 });
    expect(error.message).toContain("Rate limit");
  });

  test("HTTP 400 is rejected, not retryable, with the server's message", async () => {
    fake.setBehaviour({ fail: { status: 400, message: "Your request was rejected by the safety system." } });
    const error = await caught(provider().generateImage({ prompt: "x", size: "1024x1024" }));
    expect(error).toMatchObject({ code: "rejected", status: 400, retryable: false });
    expect(error.message).toContain("Your request was rejected by the safety system.");
  });

  test("a slow server times out with code 'timeout'", async () => {
    fake.setBehaviour({ delayMs: 1_000 });
    const started = Date.now();
    const error = await caught(provider({ requestTimeoutMs: 150 }).generateImage({ prompt: "x", size: "1024x1024" }));
    expect(error).toMatchObject({ code: "timeout", retryable: true });
    expect(Date.now() - started).toBeLessThan(900);
  });

  test("the caller's own signal aborts the call", async () => {
    fake.setBehaviour({ delayMs: 1_000 });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const error = await caught(provider().generateImage({ prompt: "x", size: "1024x1024" }, { signal: controller.signal }));
    expect(error).toMatchObject({ code: "aborted", retryable: true });

    const timedOut = await caught(
      provider().generateImage({ prompt: "x", size: "1024x1024" }, { signal: AbortSignal.timeout(50) }),
    );
    expect(timedOut.code).toBe("timeout");
  });

  test("a wrong API key is rejected (401) and neither key shows up", async () => {
    const wrongKey = "sk-wrong-key-that-must-not-leak-42";
    const error = await caught(provider({ apiKey: wrongKey }).generateImage({ prompt: "x", size: "1024x1024" }));
    expect(error).toMatchObject({ code: "rejected", status: 401, retryable: false });
    expect(error.message).not.toContain(wrongKey);
    expect(fake.requests[0].authorized).toBe(false);
  });

  test("a server that echoes the key gets it redacted", async () => {
    fake.setBehaviour({ fail: { status: 401, message: `Incorrect API key provided: ${fake.apiKey}.` } });
    const error = await caught(provider().generateImage({ prompt: "x", size: "1024x1024" }));
    expect(error.message).toContain("[redacted]");
  });

  test("an unreachable server is unavailable and retryable", async () => {
    const error = await caught(
      provider({ baseUrl: "http://127.0.0.1:1/v1" }).generateImage({ prompt: "x", size: "1024x1024" }),
    );
    expect(error).toMatchObject({ code: "unavailable", retryable: true });
    expect(error.status).toBeUndefined();
  });

  test("a non-JSON 200 is a bad_response", async () => {
    const p = provider({ fetch: async () => new Response("<html>proxy</html>", { status: 200 }) });
    expect(await caught(p.generateImage({ prompt: "x", size: "1024x1024" }))).toMatchObject({ code: "bad_response" });
  });
});

describe("openai provider: videos", () => {
  test("end to end: start, poll, download", async () => {
    const p = provider();
    const { providerJobId } = await p.startVideo({ prompt: "waves", resolution: "720p", durationSeconds: 5 });
    expect(providerJobId).toMatch(/^video_/);
    expect(fake.requests[0]).toMatchObject({
      method: "POST",
      path: "/videos",
      authorized: true,
      body: { model: "sora-2", prompt: "waves", seconds: "8", size: "1280x720" },
    });
    expect(fake.requests[0].contentType).toContain("multipart/form-data");

    const states = await pollUntilDone(p, providerJobId);
    expect(states.at(-1)).toEqual({ status: "completed", progress: 100 });
    expect(states.some((s) => s.status === "queued" || s.status === "in_progress")).toBe(true);
    const progress = states.map((s) => ("progress" in s ? s.progress : -1));
    expect(progress).toEqual([...progress].sort((a, b) => a - b));

    const file = await p.downloadVideo(providerJobId);
    expect(file).toMatchObject({ mimeType: "video/mp4", extension: "mp4" });
    expect(file.data.toString("latin1", 4, 8)).toBe("ftyp");
    expect(fake.requests.at(-1)).toMatchObject({ method: "GET", path: `/videos/${providerJobId}/content` });
  });

  test("a new provider instance can resume a job (the fake keeps it)", async () => {
    const { providerJobId } = await provider().startVideo({ prompt: "clouds", resolution: "720p", durationSeconds: 4 });
    const later = provider();
    expect((await pollUntilDone(later, providerJobId)).at(-1)?.status).toBe("completed");
    expect((await later.downloadVideo(providerJobId)).data.length).toBeGreaterThan(0);
  });

  test("a job that fails reports failed with the server's reason", async () => {
    fake.setBehaviour({ failVideos: "The video could not be generated due to content policy." });
    const p = provider();
    const { providerJobId } = await p.startVideo({ prompt: "x", resolution: "720p", durationSeconds: 4 });
    expect((await pollUntilDone(p, providerJobId)).at(-1)).toEqual({
      status: "failed",
      error: "The video could not be generated due to content policy.",
    });
    expect(await caught(p.downloadVideo(providerJobId))).toMatchObject({ code: "rejected", status: 400 });
  });

  test("downloading before completion is rejected by the server", async () => {
    fake.setBehaviour({ videoDurationMs: 10_000 });
    const p = provider();
    const { providerJobId } = await p.startVideo({ prompt: "x", resolution: "720p", durationSeconds: 4 });
    const error = await caught(p.downloadVideo(providerJobId));
    expect(error).toMatchObject({ code: "rejected", retryable: false });
    expect(error.message).toContain("not ready");
  });

  test("an unknown video id is not_found", async () => {
    const error = await caught(provider().getVideo("video_does_not_exist"));
    expect(error).toMatchObject({ code: "not_found", status: 404, retryable: false });
    expect(await caught(provider().getVideo(""))).toMatchObject({ code: "not_found" });
  });

  test("1080p asks for 1792x1024, which sora-2 refuses and sora-2-pro accepts", async () => {
    const refused = await caught(provider().startVideo({ prompt: "x", resolution: "1080p", durationSeconds: 4 }));
    expect(refused).toMatchObject({ code: "rejected", status: 400 });
    expect(refused.message).toContain("size");

    const { providerJobId } = await provider({ videoModel: "sora-2-pro" }).startVideo({
      prompt: "x",
      resolution: "1080p",
      durationSeconds: 12,
    });
    expect(fake.videos.get(providerJobId)).toMatchObject({ size: "1792x1024", seconds: "12", model: "sora-2-pro" });
  });

  test("5xx on a poll is retryable; the job is still there afterwards", async () => {
    const p = provider();
    const { providerJobId } = await p.startVideo({ prompt: "x", resolution: "720p", durationSeconds: 4 });
    fake.setBehaviour({ fail: { status: 503, times: 2, only: "/videos" } });
    expect(await caught(p.getVideo(providerJobId))).toMatchObject({ code: "unavailable", retryable: true, status: 503 });
    expect(await caught(p.getVideo(providerJobId))).toMatchObject({ code: "unavailable" });
    expect((await pollUntilDone(p, providerJobId)).at(-1)?.status).toBe("completed");
  });

  test("a slow poll times out", async () => {
    const p = provider({ requestTimeoutMs: 100 });
    const { providerJobId } = await p.startVideo({ prompt: "x", resolution: "720p", durationSeconds: 4 });
    fake.setBehaviour({ delayMs: 500 });
    expect(await caught(p.getVideo(providerJobId))).toMatchObject({ code: "timeout", retryable: true });
  });
});

describe("openai provider: request mapping", () => {
  test("durations round up to 4, 8 or 12 seconds", () => {
    expect([1, 4, 5, 8, 9, 12, 20].map(toOpenAIVideoSeconds)).toEqual(["4", "4", "8", "8", "12", "12", "12"]);
  });
  test("resolutions map to landscape sizes", () => {
    expect(toOpenAIVideoSize("720p")).toBe("1280x720");
    expect(toOpenAIVideoSize("1080p")).toBe("1792x1024");
  });
  test("an invalid request never reaches the server", async () => {
    expect(await caught(provider().startVideo({ prompt: "", resolution: "720p", durationSeconds: 4 }))).toMatchObject({
      code: "rejected",
    });
    expect(fake.requests).toHaveLength(0);
  });
});
