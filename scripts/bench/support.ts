import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { linkPathFromOn } from "../../tests/support/mailbox";
import { freePort, HttpClient, ROOT } from "../../tests/support/server";

// Shared by the benchmark scripts: start the BUILT server as `npm start` does, on loopback. The
// test harness already knows where the project is and how to find a free port.
export { freePort, ROOT };

export function tempDir(tag: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `credits-bench-${tag}-`));
}

export function ensureBuilt(): void {
  if (!fs.existsSync(path.join(ROOT, "build/index.js"))) {
    throw new Error("No build found: run `npm run build` first (npm run bench does).");
  }
}

export type BenchServer = { url: string; pid: number; child: ChildProcess; startupMs: number; stop(): Promise<void> };

/** The Node flags `npm start` gives the server (package.json), so the bench measures what runs. */
export function startFlags(): string[] {
  const start = (JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as { scripts: { start: string } }).scripts.start;
  const argv = start.trim().split(/\s+/);
  if (argv[0] !== "node" || argv.at(-1) !== "server.js") throw new Error(`npm start is not \`node [flags] server.js\`: ${start}`);
  return argv.slice(1, -1);
}

/** Starts the server as `npm start` does; startupMs is spawn → first 200 from /healthz. */
export async function startBenchServer(env: Record<string, string>, dataDir: string): Promise<BenchServer> {
  ensureBuilt();
  const port = await freePort();
  const started = performance.now();
  let output = "";
  const child = spawn(process.execPath, [...startFlags(), "server.js"], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH,
      NODE_ENV: "production",
      SESSION_SECRET: "bench-secret-bench-secret-bench-secret-00",
      STRIPE_EMULATOR: "on",
      MAIL_OUTBOX: "on",
      LOG_LEVEL: "error",
      HOST: "127.0.0.1",
      PORT: String(port),
      APP_URL: `http://127.0.0.1:${port}`,
      DATA_DIR: dataDir,
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout!.on("data", (d) => (output += d));
  child.stderr!.on("data", (d) => (output += d));
  const url = `http://127.0.0.1:${port}`;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited (${child.exitCode}):\n${output}`);
    try {
      const res = await fetch(`${url}/healthz`);
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    if (performance.now() - started > 30_000) throw new Error(`server did not start:\n${output}`);
    await new Promise((r) => setTimeout(r, 5));
  }
  const startupMs = performance.now() - started;
  return {
    url,
    pid: child.pid!,
    child,
    startupMs,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}

/** Peak resident set size of a process so far (Linux VmHWM), in MB. */
export function peakRssMb(pid: number): number | null {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1]);
    return Number.isFinite(kb) ? Math.round((kb / 1024) * 10) / 10 : null;
  } catch {
    return null;
  }
}

/**
 * Signs up through the real forms as a person does (sign-up, log in, the verification mail's
 * confirm button: an unverified account cannot generate) and returns the session cookie.
 */
export async function signUpCookie(url: string, dataDir: string, email: string, databaseUrl: string | null = null): Promise<string> {
  const client = new HttpClient(url);
  const password = "bench-password-1";
  const signup = await client.post("/signup", { email, password });
  if (signup.status !== 303) throw new Error(`sign-up failed: ${signup.status}`);
  const login = await client.post("/login", { email, password });
  if (login.status !== 303) throw new Error(`log-in failed: ${login.status}`);
  const page = await client.get(await linkPathFromOn({ dataDir, databaseUrl }, email, "verify_email"));
  const token = /name="token" value="([^"]+)"/.exec(await page.text())?.[1];
  if (!token) throw new Error(`verification page without a confirm button: ${page.status}`);
  const confirm = await client.post("/verify-email", { token });
  if (confirm.status !== 303 && confirm.status !== 200) throw new Error(`confirm failed: ${confirm.status}`);
  const session = client.cookies.get("__session");
  if (!session) throw new Error("no session cookie");
  return `__session=${session}`;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

export const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;
