import { z } from "zod";
import { createInstantProvider } from "./instant.server";
import { createLocalProvider } from "./local.server";
import { createOpenAIProvider } from "./openai.server";
import type { GenerationProvider } from "./types";

// Picks the generation back-end from config. The config itself is read from the environment by
// env.server.ts; this schema only guards the shape handed over, and fails loudly at start-up.

export const ProviderConfigSchema = z.object({
  provider: z.enum(["local", "openai", "instant"]),
  openaiBaseUrl: z.string().url("openaiBaseUrl must be an absolute URL such as https://api.openai.com/v1"),
  openaiApiKey: z.string().min(1).optional(),
  openaiImageModel: z.string().min(1),
  openaiVideoModel: z.string().min(1),
  requestTimeoutMs: z.number().int().positive("requestTimeoutMs must be a positive number of milliseconds"),
  localVideoDurationMs: z.number().int().nonnegative("localVideoDurationMs must be 0 or more"),
});

export type ProviderConfig = z.infer<typeof ProviderConfigSchema>;

export const DEFAULT_PROVIDER_CONFIG: ProviderConfig = {
  provider: "local",
  openaiBaseUrl: "https://api.openai.com/v1",
  openaiImageModel: "gpt-image-1",
  openaiVideoModel: "sora-2",
  requestTimeoutMs: 120_000,
  localVideoDurationMs: 4_000,
};

export function createProvider(config: ProviderConfig): GenerationProvider {
  const parsed = ProviderConfigSchema.safeParse(config);
  if (!parsed.success) {
    // Never echo values: one of them is an API key.
    const problems = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    throw new Error(`Invalid generation provider config: ${problems}`);
  }
  const c = parsed.data;
  if (c.provider === "instant") return createInstantProvider();
  if (c.provider === "local") return createLocalProvider({ videoDurationMs: c.localVideoDurationMs });
  return createOpenAIProvider({
    baseUrl: c.openaiBaseUrl,
    apiKey: c.openaiApiKey,
    imageModel: c.openaiImageModel,
    videoModel: c.openaiVideoModel,
    requestTimeoutMs: c.requestTimeoutMs,
  });
}

export { LOCAL_FAIL_MARKER, LOCAL_PREVIEW_SIZES } from "./local.server";
export { toOpenAIVideoSeconds, toOpenAIVideoSize } from "./openai.server";
export * from "./types";
