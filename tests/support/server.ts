import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { linkPathFromOn } from "./mailbox";
import { freePort } from "./ports";
import { startPostgres, type PgServer } from "./postgres";

export const ROOT = path.resolve(import.meta.dirname, "../..");

export { freePort };

/** The data folder of each running server, so a client of its URL can read the mail it queued. */
const dataDirs = new Map<string, string>();

/** Another URL (a proxy in front of servers sharing one data folder) whose mail is in `dir`. */
export function registerDataDir(url: string, dir: string): void {
  dataDirs.set(url, dir);
}

export function dataDirOf(url: string): string {
  const dir = dataDirs.get(url);
  if (!dir) throw new Error(`no server started at ${url} by this test process`);
  return dir;
}

/** The PostgreSQL database of the server last started on each data folder (none: its SQLite file). */
const databaseOfServerDir = new Map<string, string>();

/** The database behind a URL this process started a server at (or registered), either engine. */
export function serverDbOf(url: string): Pick<RunningServer, "dataDir" | "databaseUrl"> {
  const dataDir = dataDirOf(url);
  return { dataDir, databaseUrl: databaseOfServerDir.get(dataDir) ?? null };
}

export type RunningServer = {
  url: string;
  port: number;
  dataDir: string;
  /** The PostgreSQL database it runs on (DATABASE_URL), or null: the SQLite file in dataDir. */
  databaseUrl: string | null;
  process: ChildProcess;
  output: () => string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
};

/**
 * Starts the BUILT app (`node server.js`, as `npm start` does) on a free loopback port with a
 * fresh data folder, and waits for /healthz. Requires `npm run build` first.
 */
export async function startServer(env: Record<string, string> = {}, opts: { dataDir?: string; databaseUrl?: string } = {}): Promise<RunningServer> {
  if (!fs.existsSync(path.join(ROOT, "build/index.js"))) throw new Error("Run `npm run build` before the HTTP tests.");
  const port = await freePort();
  const dataDir = opts.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), "credits-http-"));
  // TEST_DATABASE=postgres runs the HTTP suites on PostgreSQL (decision 036): each server a fresh
  // database on the run's server, unless the test names one (a restart, a second instance).
  const databaseUrl = env.DATABASE_URL ?? opts.databaseUrl ?? (onPostgres() ? await testDatabaseUrl(dataDir) : null);
  let out = "";
  const child = spawn(process.execPath, ["server.js"], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH,
      NODE_ENV: "production",
      SESSION_SECRET: "test-secret-test-secret-test-secret-000",
      STRIPE_EMULATOR: "on",
      // No SMTP server by default: mail goes to $DATA_DIR/outbox (the mail tests start a real one).
      MAIL_OUTBOX: "on",
      RATE_LIMIT_DISABLED: "1",
      // Tests sign up many accounts from 127.0.0.1; the auth brute-force limits have their own tests.
      AUTH_RATE_LIMIT_DISABLED: "1",
      LOG_LEVEL: "warn",
      PORT: String(port),
      HOST: "127.0.0.1",
      APP_URL: `http://127.0.0.1:${port}`,
      DATA_DIR: dataDir,
      ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}:\n${out}`);
    try {
      const res = await fetch(`${url}/healthz`);
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`server did not become healthy:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  dataDirs.set(url, dataDir);
  if (databaseUrl) databaseOfServerDir.set(dataDir, databaseUrl);
  else databaseOfServerDir.delete(dataDir);
  return {
    url,
    port,
    dataDir,
    databaseUrl,
    process: child,
    output: () => out,
    async stop(signal = "SIGTERM") {
      if (child.exitCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** Whether this run's HTTP suites are on PostgreSQL (TEST_DATABASE=postgres). */
export function onPostgres(): boolean {
  return process.env.TEST_DATABASE === "postgres";
}

// One PostgreSQL per test process (the run's shared server in CI: TEST_POSTGRES_URL), and one
// database per data folder, so a server restarted on the same folder finds its rows again.
let postgres: Promise<PgServer> | null = null;
const databaseOfDir = new Map<string, string>();

async function testDatabaseUrl(dataDir: string): Promise<string> {
  const known = databaseOfDir.get(dataDir);
  if (known) return known;
  if (!postgres) {
    postgres = startPostgres();
    const server = postgres;
    process.once("beforeExit", () => void server.then((s) => s.stop()).catch(() => undefined));
  }
  const url = await (await postgres).createDatabase();
  databaseOfDir.set(dataDir, url);
  return url;
}

/** A tiny cookie-keeping HTTP client for tests that speak to the server like a browser without JS. */
export class HttpClient {
  cookies = new Map<string, string>();
  /** `headers` go with every request (a User-Agent, say, for the sessions list). */
  constructor(
    readonly base: string,
    readonly headers: Record<string, string> = {},
  ) {}

  cookieHeader(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; ");
  }

  async request(pathname: string, init: RequestInit & { form?: Record<string, string> } = {}): Promise<Response> {
    const headers = new Headers({ ...this.headers, ...Object.fromEntries(new Headers(init.headers)) });
    if (this.cookies.size) headers.set("Cookie", this.cookieHeader());
    let body = init.body;
    if (init.form) {
      body = new URLSearchParams(init.form).toString();
      headers.set("Content-Type", "application/x-www-form-urlencoded");
      if (!headers.has("Origin")) headers.set("Origin", this.base);
    }
    const res = await fetch(this.base + pathname, { ...init, body, headers, redirect: "manual" });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(";");
      const eq = pair!.indexOf("=");
      const name = pair!.slice(0, eq);
      const value = pair!.slice(eq + 1);
      if (/Max-Age=0|Expires=Thu, 01 Jan 1970/i.test(c) || value === "") this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return res;
  }

  get(pathname: string, init: RequestInit = {}) {
    return this.request(pathname, { ...init, method: "GET" });
  }

  post(pathname: string, form: Record<string, string>, init: RequestInit = {}) {
    return this.request(pathname, { ...init, method: "POST", form });
  }

  /**
   * Signs up as a person does: the form ("check your inbox"), log in, then the link of the
   * verification mail (its page, then its confirm button). Ends logged in, verified, with the
   * sign-up bonus. Returns the final (confirm) response.
   */
  async signup(email: string, password = "password123") {
    const res = await this.post("/signup", { email, password });
    if (res.status !== 303) throw new Error(`signup failed: ${res.status} ${await res.text()}`);
    await this.login(email, password);
    return this.verifyEmail(email);
  }

  /** Signs up without confirming the address (the account stays unverified); logged in. */
  async signupUnverified(email: string, password = "password123") {
    const res = await this.post("/signup", { email, password });
    if (res.status !== 303) throw new Error(`signup failed: ${res.status} ${await res.text()}`);
    return this.login(email, password);
  }

  async login(email: string, password = "password123") {
    const res = await this.post("/login", { email, password });
    if (res.status !== 303) throw new Error(`login failed: ${res.status} ${await res.text()}`);
    return res;
  }

  /** Opens the newest verification link sent to `email` and presses its confirm button. */
  async verifyEmail(email: string) {
    const page = await this.get(await linkPathFromOn(serverDbOf(this.base), email.trim().toLowerCase(), "verify_email"));
    const html = await page.text();
    const token = /name="token" value="([^"]+)"/.exec(html)?.[1];
    if (page.status !== 200 || !token) throw new Error(`verification page without a confirm button: ${page.status} ${html.slice(0, 300)}`);
    const res = await this.post("/verify-email", { token });
    if (res.status !== 303 && res.status !== 200) throw new Error(`confirm failed: ${res.status} ${await res.text()}`);
    return res;
  }
}
