import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startFakeOpenAI, type FakeOpenAI } from "../../../tests/mocks/openai-server";
import { DEFAULT_PROVIDER_CONFIG, createProvider } from "./index.server";

let fake: FakeOpenAI;
beforeAll(async () => {
  fake = await startFakeOpenAI({ videoDurationMs: 0 });
});
afterAll(async () => {
  await fake.close();
});

describe("createProvider", () => {
  test("local by default, with no network", async () => {
    const provider = createProvider(DEFAULT_PROVIDER_CONFIG);
    expect(provider.name).toBe("local");
    const file = await provider.generateImage({ prompt: "a kite", size: "256x256" });
    expect(file.mimeType).toBe("image/png");
  });

  test("local video render time comes from localVideoDurationMs", async () => {
    const provider = createProvider({ ...DEFAULT_PROVIDER_CONFIG, localVideoDurationMs: 60_000 });
    const { providerJobId } = await provider.startVideo({ prompt: "x", resolution: "720p", durationSeconds: 4 });
    expect(await provider.getVideo(providerJobId)).toEqual({ status: "queued", progress: 0 });
  });

  test("openai talks to openaiBaseUrl with the key (a trailing slash is fine)", async () => {
    const provider = createProvider({
      ...DEFAULT_PROVIDER_CONFIG,
      provider: "openai",
      openaiBaseUrl: `${fake.url}/`,
      openaiApiKey: fake.apiKey,
      requestTimeoutMs: 2_000,
    });
    expect(provider.name).toBe("openai");
    const { providerJobId } = await provider.startVideo({ prompt: "x", resolution: "720p", durationSeconds: 4 });
    expect(await provider.getVideo(providerJobId)).toEqual({ status: "completed", progress: 100 });
    expect(fake.requests.map((r) => `${r.method} ${r.path}`)).toEqual(["POST /videos", `GET /videos/${providerJobId}`]);
  });

  test("a bad config fails loudly and never echoes the key", () => {
    const key = "sk-secret-value-123456";
    const attempt = () =>
      createProvider({ ...DEFAULT_PROVIDER_CONFIG, provider: "openai", openaiApiKey: key, openaiBaseUrl: "not a url", requestTimeoutMs: 0 });
    expect(attempt).toThrow(/openaiBaseUrl/);
    expect(attempt).toThrow(/requestTimeoutMs/);
    try {
      attempt();
    } catch (error) {
      expect(String(error)).not.toContain(key);
    }
  });
});
