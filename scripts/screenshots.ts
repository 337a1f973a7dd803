/**
 * The README's screenshots, taken from the real app so they stay current: starts the built server
 * (`npm run build` first) with the Stripe emulator and the mail outbox on a free port and a fresh
 * data folder, and uses it as a new customer would: signs up through the forms, confirms the address
 * with the link from the mail in the outbox, generates a few images, buys a pack on the emulator's
 * Checkout page, and writes docs/screenshots/{landing,generate,billing}.png (and -dark variants in
 * the dark colour scheme). Usage: npm run screenshots
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { chromium, type Page } from "@playwright/test";

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

/** The verification link from the newest mail to `email` in the outbox folder ($DATA_DIR/outbox):
 * the real mail the app sent, read the way a person would open it. */
async function verificationLink(dataDir: string, email: string): Promise<string> {
  const dir = path.join(dataDir, "outbox");
  const until = Date.now() + 20_000;
  while (Date.now() < until) {
    const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith(".eml")).sort() : [];
    for (const file of files.reverse()) {
      // Quoted-printable soft breaks ("=\r\n") and "=3D" would split or mangle the link.
      const text = fs.readFileSync(path.join(dir, file), "utf8").replace(/=\r?\n/g, "").replace(/=3D/g, "=");
      if (!text.includes(email)) continue;
      const link = text.match(/https?:\/\/[^\s"<>]+\/verify-email\?token=[A-Za-z0-9_-]+/);
      if (link) return link[0];
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`no verification mail to ${email} reached ${dir}`);
}

async function generateImage(page: Page, prompt: string) {
  await page.goto("/generate");
  await page.getByLabel("Image prompt").fill(prompt);
  await page.getByRole("button", { name: /^Generate image/ }).click();
  await page.getByTestId("current-job").getByTestId("job-status").filter({ hasText: "Done" }).waitFor();
}

async function buyPack(page: Page) {
  await page.goto("/settings/billing");
  await page.getByRole("button", { name: /^Buy \d+ credits$/ }).first().click();
  await page.getByRole("button", { name: "Pay", exact: true }).click();
  await page.waitForURL(/\/settings\/billing/);
  await page.getByTestId("toast").waitFor();
}

async function shoot(page: Page, name: string, url: string) {
  for (const colorScheme of ["light", "dark"] as const) {
    await page.emulateMedia({ colorScheme });
    await page.goto(url);
    await page.waitForLoadState("networkidle");
    // Every image decoded, so no screenshot shows a half-loaded gallery.
    await page.evaluate(() => Promise.all([...document.images].map((img) => img.decode().catch(() => undefined))));
    await page.screenshot({ path: path.join(OUT, `${name}${colorScheme === "dark" ? "-dark" : ""}.png`), fullPage: true });
  }
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

    await shoot(page, "landing", "/");

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

    await page.goto(await verificationLink(dataDir, email));
    await page.getByRole("button", { name: "Confirm my address" }).click();
    await page.waitForURL(/\/generate$/);

    await buyPack(page);
    for (const prompt of ["a lighthouse at dusk", "a fox in the snow", "neon city at night"]) await generateImage(page, prompt);

    await shoot(page, "generate", "/generate");
    await shoot(page, "billing", "/settings/billing");
    await browser.close();
    console.log(`wrote ${["landing", "generate", "billing"].map((n) => `docs/screenshots/${n}{,-dark}.png`).join(", ")}`);
  } finally {
    server.kill("SIGTERM");
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
