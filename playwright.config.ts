import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { defineConfig, devices } from "@playwright/test";
import { chromium } from "@playwright/test";

/** Asks the kernel for a free port in a child process (the config must be synchronous). */
function freePortSync(): number {
  const script = "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{process.stdout.write(String(s.address().port));s.close()})";
  return Number(execFileSync(process.execPath, ["-e", script], { encoding: "utf8" }));
}

// Playwright's own Chromium where it is installed (a machine with internet); otherwise Debian's
// (`apt-get install chromium`), which .ci/run installs. CHROMIUM_PATH forces a binary.
function chromiumExecutable(): string | undefined {
  if (process.env.CHROMIUM_PATH) return process.env.CHROMIUM_PATH;
  try {
    if (fs.existsSync(chromium.executablePath())) return undefined;
  } catch {
    // no bundled browser registered
  }
  return fs.existsSync("/usr/bin/chromium") ? "/usr/bin/chromium" : undefined;
}

// A free port picked once by the main process and handed to the workers through the environment,
// so two runs on one machine (or anything else on a fixed port) never collide.
const PORT = Number(process.env.E2E_PORT ?? freePortSync());
process.env.E2E_PORT = String(PORT);
const DATA_DIR = process.env.E2E_DATA_DIR ?? fs.mkdtempSync(path.join(os.tmpdir(), "credits-e2e-"));
process.env.E2E_DATA_DIR = DATA_DIR; // the workers read the same folder (fixtures write users into it)
export const E2E_ADMIN_EMAIL = "admin@e2e.test";

export default defineConfig({
  testDir: "tests/e2e",
  timeout: 60_000,
  expect: { timeout: 10_000 },
  fullyParallel: false,
  workers: 1,
  retries: process.env.CI ? 1 : 0,
  reporter: "list",
  use: {
    baseURL: `http://127.0.0.1:${PORT}`,
    trace: "retain-on-failure",
    launchOptions: {
      executablePath: chromiumExecutable(),
      args: [
        // Chromium's sandbox cannot run as root (CI and these machines); elsewhere keep it on.
        ...(process.getuid?.() === 0 ? ["--no-sandbox"] : []),
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    },
  },
  projects: [{ name: "chromium", use: { ...devices["Desktop Chrome"] } }],
  webServer: {
    command: "node server.js",
    url: `http://127.0.0.1:${PORT}/healthz`,
    reuseExistingServer: false,
    timeout: 60_000,
    stdout: "pipe",
    env: {
      NODE_ENV: "production",
      PORT: String(PORT),
      HOST: "127.0.0.1",
      APP_URL: `http://127.0.0.1:${PORT}`,
      DATA_DIR,
      SESSION_SECRET: "e2e-secret-e2e-secret-e2e-secret-0000",
      STRIPE_EMULATOR: "on",
      // The emulator's page then offers a 100% promotion code next to "Pay" (purchase.spec.ts).
      STRIPE_ALLOW_PROMOTION_CODES: "on",
      MAIL_OUTBOX: "on",
      ADMIN_EMAILS: E2E_ADMIN_EMAIL,
      RATE_LIMIT_DISABLED: "1",
      AUTH_RATE_LIMIT_DISABLED: "1", // many sign-ups from one address; the limits have their own tests
      LOCAL_VIDEO_DURATION_MS: "1500",
      LOG_LEVEL: "warn",
    },
  },
});
