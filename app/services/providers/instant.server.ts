import { encodeRgbPng } from "./png.server";
import type { GeneratedFile, GenerationProvider } from "./types";

// Benchmarks only (GENERATION_PROVIDER=instant, refused in production): answers at once with a
// 1×1 PNG, so an HTTP benchmark measures the app — session, validation, ledger hold and post,
// job row, file write — and not a renderer.

const PIXEL = encodeRgbPng(1, 1, new Uint8Array([99, 102, 241]));

function pixel(): GeneratedFile {
  return { data: PIXEL, mimeType: "image/png", extension: "png" };
}

export function createInstantProvider(): GenerationProvider {
  return {
    name: "instant",
    async generateImage() {
      return pixel();
    },
    async startVideo() {
      return { providerJobId: `instant-${Date.now().toString(36)}` };
    },
    async getVideo() {
      return { status: "completed", progress: 100 };
    },
    async downloadVideo() {
      return pixel();
    },
  };
}
