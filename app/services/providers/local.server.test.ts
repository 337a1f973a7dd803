import { describe, expect, test } from "vitest";
import { inspectGif, inspectPng } from "../../../tests/support/file-formats";
import {
  LOCAL_JOB_ID_PREFIX,
  createLocalProvider,
  decodeLocalJobId,
  encodeLocalJobId,
} from "./local.server";
import { IMAGE_SIZES, ProviderError, type GenerationProvider } from "./types";

function clock(start = 1_700_000_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

async function caught(promise: Promise<unknown>): Promise<ProviderError> {
  const error = await promise.then(
    () => {
      throw new Error("expected the call to fail");
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ProviderError);
  return error as ProviderError;
}

describe("local provider: images", () => {
  const provider = createLocalProvider({ videoDurationMs: 1000 });

  test.each(IMAGE_SIZES)("draws a valid %s PNG", async (size) => {
    const file = await provider.generateImage({ prompt: "a lighthouse at dusk", size });
    expect(file.mimeType).toBe("image/png");
    expect(file.extension).toBe("png");
    expect(file.data.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    expect(file.data.toString("latin1", 12, 16)).toBe("IHDR");

    const [width, height] = size.split("x").map(Number);
    expect(file.data.readUInt32BE(16)).toBe(width);
    expect(file.data.readUInt32BE(20)).toBe(height);

    // Every chunk CRC checks out and the inflated IDAT is exactly height rows of (1 + width*3) bytes.
    const png = inspectPng(file.data);
    expect(png).toMatchObject({ width, height, colourType: 2, bitDepth: 8 });
    expect(png.pixels.length).toBe(width * height * 3);
    // Not a blank canvas: plenty of distinct colours.
    const colours = new Set<number>();
    for (let i = 0; i < png.pixels.length; i += 3 * 97) {
      colours.add((png.pixels[i] << 16) | (png.pixels[i + 1] << 8) | png.pixels[i + 2]);
    }
    expect(colours.size).toBeGreaterThan(50);
  });

  test("is deterministic per prompt and differs between prompts", async () => {
    const a1 = await provider.generateImage({ prompt: "a red fox in the snow", size: "256x256" });
    const a2 = await createLocalProvider({ videoDurationMs: 0 }).generateImage({ prompt: "a red fox in the snow", size: "256x256" });
    const b = await provider.generateImage({ prompt: "a blue whale in the sea", size: "256x256" });
    expect(a1.data.equals(a2.data)).toBe(true);
    expect(a1.data.equals(b.data)).toBe(false);
  });

  test("a 1024x1024 image is fast", async () => {
    await provider.generateImage({ prompt: "warm-up", size: "1024x1024" });
    const started = performance.now();
    await provider.generateImage({ prompt: "speed check", size: "1024x1024" });
    // Well under 200 ms on a laptop; generous here so a busy CI box does not flake.
    expect(performance.now() - started).toBeLessThan(1000);
  });

  test("the [fail] marker rejects the image", async () => {
    const error = await caught(provider.generateImage({ prompt: "a cat [FAIL] please", size: "256x256" }));
    expect(error).toMatchObject({ code: "rejected", retryable: false, provider: "local" });
    expect(error.message).toContain("[fail]");
  });

  test("an invalid request is rejected, not drawn", async () => {
    const empty = await caught(provider.generateImage({ prompt: "   ", size: "256x256" }));
    expect(empty.code).toBe("rejected");
    const badSize = await caught(provider.generateImage({ prompt: "x", size: "300x300" as never }));
    expect(badSize).toMatchObject({ code: "rejected", retryable: false });
    expect(badSize.message).toContain("size");
  });

  test("an aborted signal stops the call", async () => {
    const controller = new AbortController();
    controller.abort();
    const error = await caught(provider.generateImage({ prompt: "x", size: "256x256" }, { signal: controller.signal }));
    expect(error).toMatchObject({ code: "aborted", retryable: true });
  });
});

describe("local provider: videos", () => {
  const request = { prompt: "waves on a pebble beach", resolution: "720p", durationSeconds: 4 } as const;

  test("startVideo returns at once and progress grows with time until completed", async () => {
    const time = clock();
    const provider = createLocalProvider({ videoDurationMs: 10_000, now: time.now });
    const { providerJobId } = await provider.startVideo(request);
    expect(providerJobId.startsWith(LOCAL_JOB_ID_PREFIX)).toBe(true);

    expect(await provider.getVideo(providerJobId)).toEqual({ status: "queued", progress: 0 });
    time.advance(2_500);
    expect(await provider.getVideo(providerJobId)).toEqual({ status: "in_progress", progress: 25 });
    time.advance(5_000);
    expect(await provider.getVideo(providerJobId)).toEqual({ status: "in_progress", progress: 75 });
    await expect(provider.downloadVideo(providerJobId)).rejects.toMatchObject({ code: "rejected", retryable: true });
    time.advance(2_500);
    expect(await provider.getVideo(providerJobId)).toEqual({ status: "completed", progress: 100 });
  });

  test("progress never goes backwards and stays within 0..100", async () => {
    const time = clock();
    const provider = createLocalProvider({ videoDurationMs: 3_000, now: time.now });
    const { providerJobId } = await provider.startVideo(request);
    let last = -1;
    for (let i = 0; i < 40; i++) {
      const state = await provider.getVideo(providerJobId);
      if (state.status === "failed") throw new Error("unexpected failure");
      expect(state.progress).toBeGreaterThanOrEqual(last);
      expect(state.progress).toBeLessThanOrEqual(100);
      last = state.progress;
      time.advance(100);
    }
    expect(last).toBe(100);
  });

  test("a NEW provider instance resumes and downloads a job started by another", async () => {
    const time = clock();
    const before = createLocalProvider({ videoDurationMs: 5_000, now: time.now });
    const { providerJobId } = await before.startVideo({ ...request, resolution: "1080p", durationSeconds: 6 });

    // "Restart": a fresh instance with a different configured render time, later on.
    time.advance(2_000);
    const after = createLocalProvider({ videoDurationMs: 60_000, now: time.now });
    expect(await after.getVideo(providerJobId)).toEqual({ status: "in_progress", progress: 40 });
    time.advance(3_000);
    expect(await after.getVideo(providerJobId)).toEqual({ status: "completed", progress: 100 });

    const file = await after.downloadVideo(providerJobId);
    expect(file.mimeType).toBe("image/gif");
    expect(file.extension).toBe("gif");
    expect(file.data.toString("latin1", 0, 6)).toBe("GIF89a");
    const gif = inspectGif(file.data);
    expect(gif).toMatchObject({ width: 480, height: 270, loops: true });
    expect(gif.frames).toBeGreaterThanOrEqual(16);
    expect(gif.frames).toBeLessThanOrEqual(40);
    // The frames add up to roughly the asked-for duration.
    const total = gif.delaysMs.reduce((a, b) => a + b, 0);
    expect(Math.abs(total - 6_000)).toBeLessThan(500);

    // Same job, same bytes, whichever instance renders it.
    expect((await before.downloadVideo(providerJobId)).data.equals(file.data)).toBe(true);
  });

  test("720p previews are 320x180 and several frames long", async () => {
    const provider = createLocalProvider({ videoDurationMs: 0 });
    const { providerJobId } = await provider.startVideo(request);
    expect(await provider.getVideo(providerJobId)).toEqual({ status: "completed", progress: 100 });
    const gif = inspectGif((await provider.downloadVideo(providerJobId)).data);
    expect(gif).toMatchObject({ version: "GIF89a", width: 320, height: 180 });
    expect(gif.frames).toBeGreaterThan(10);
  });

  test("two starts of the same prompt get different ids", async () => {
    const provider = createLocalProvider({ videoDurationMs: 0, now: () => 1 });
    const a = await provider.startVideo(request);
    const b = await provider.startVideo(request);
    expect(a.providerJobId).not.toBe(b.providerJobId);
  });

  test("the [fail] marker makes the video job fail halfway", async () => {
    const time = clock();
    const provider = createLocalProvider({ videoDurationMs: 1_000, now: time.now });
    const { providerJobId } = await provider.startVideo({ ...request, prompt: "[fail] a storm" });
    time.advance(200);
    expect(await provider.getVideo(providerJobId)).toMatchObject({ status: "in_progress" });
    time.advance(400);
    const state = await provider.getVideo(providerJobId);
    expect(state.status).toBe("failed");
    expect(state.status === "failed" && state.error).toContain("[fail]");
    time.advance(10_000);
    expect((await provider.getVideo(providerJobId)).status).toBe("failed");
    await expect(provider.downloadVideo(providerJobId)).rejects.toMatchObject({ code: "rejected", retryable: false });
  });

  test("ids that are not ours, or were tampered with, are not_found", async () => {
    const provider = createLocalProvider({ videoDurationMs: 0 });
    const { providerJobId } = await provider.startVideo(request);
    const job = decodeLocalJobId(providerJobId);

    const forged = encodeLocalJobId({ ...job, d: 12 }).replace(/\.[0-9a-f]{8}$/, `.${providerJobId.slice(-8)}`);
    for (const id of ["", "video_123", `${LOCAL_JOB_ID_PREFIX}garbage`, `${LOCAL_JOB_ID_PREFIX}e30.00000000`, forged]) {
      const error = await caught(provider.getVideo(id));
      expect(error).toMatchObject({ code: "not_found", retryable: false });
      await expect(provider.downloadVideo(id)).rejects.toMatchObject({ code: "not_found" });
    }
  });

  test("an invalid video request is rejected", async () => {
    const provider: GenerationProvider = createLocalProvider({ videoDurationMs: 0 });
    await expect(provider.startVideo({ ...request, durationSeconds: 0 })).rejects.toMatchObject({ code: "rejected" });
    await expect(provider.startVideo({ ...request, durationSeconds: 2.5 })).rejects.toMatchObject({ code: "rejected" });
    await expect(provider.startVideo({ ...request, resolution: "4k" as never })).rejects.toMatchObject({ code: "rejected" });
  });
});
