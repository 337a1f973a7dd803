/**
 * The README's screenshots, taken from the real app so they stay current: starts the built server
 * (`npm run build` first) with the Stripe emulator and the mail outbox on a free port and a fresh
 * data folder, signs a user up through the forms, and writes docs/screenshots/{landing,generate,
 * billing}.png. Usage: npm run screenshots
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { chromium } from "@playwright/test";

const OUT = path.resolve("docs/screenshots");

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

async function waitForHealth(url: string, ms: number) {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    try {
      if ((await fetch(`${url}/healthz`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`the server did not answer ${url}/healthz within ${ms} ms`);
}

// The same choice as playwright.config.ts: Playwright's Chromium if installed, else Debian's.
function executablePath(): string | undefined {
  if (process.env.CHROMIUM_PATH) return process.env.CHROMIUM_PATH;
  try {
    if (fs.existsSync(chromium.executablePath())) return undefined;
  } catch {
    // no bundled browser
  }
  return fs.existsSync("/usr/bin/chromium") ? "/usr/bin/chromium" : undefined;
}

async function main() {
  if (!fs.existsSync("build/index.js")) throw new Error("run `npm run build` first");
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "credits-screens-"));
  const server = spawn(process.execPath, ["server.js"], {
    stdio: ["ignore", "inherit", "inherit"],
    env: {
      ...process.env,
      NODE_ENV: "production",
      PORT: String(port),
      HOST: "127.0.0.1",
      APP_URL: url,
      DATA_DIR: dataDir,
      SESSION_SECRET: "screenshots-secret-screenshots-0000",
      STRIPE_EMULATOR: "on",
      MAIL_OUTBOX: "on",
      LOG_LEVEL: "warn",
    },
  });
  try {
    await waitForHealth(url, 60_000);
    const browser = await chromium.launch({
      executablePath: executablePath(),
      args: process.getuid?.() === 0 ? ["--no-sandbox"] : [],
    });
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 }, baseURL: url });
    fs.mkdirSync(OUT, { recursive: true });

    await page.goto("/");
    await page.getByRole("img").last().evaluate((img: HTMLImageElement) => img.decode());
    await page.screenshot({ path: path.join(OUT, "landing.png"), fullPage: true });

    const email = "demo@example.com"; // a fresh data folder every run, so the same address each time
    await page.goto("/signup");
    await page.getByLabel("Email").fill(email);
    await page.getByLabel("Password").fill("correct-horse-1");
    await page.getByRole("button", { name: "Sign up" }).click();
    await page.waitForURL(/\/signup\/check-inbox$/);
    await page.getByRole("main").getByRole("link", { name: "Log in" }).click();
    await page.getByLabel("Email").fill(email);
    await page.getByLabel("Password").fill("correct-horse-1");
    await page.getByRole("button", { name: "Log in" }).click();
    await page.waitForURL(/\/generate$/);
    await page.screenshot({ path: path.join(OUT, "generate.png"), fullPage: true });

    await page.goto("/settings/billing");
    await page.screenshot({ path: path.join(OUT, "billing.png"), fullPage: true });
    await browser.close();
    console.log(`wrote ${["landing", "generate", "billing"].map((n) => `docs/screenshots/${n}.png`).join(", ")}`);
  } finally {
    server.kill("SIGTERM");
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
