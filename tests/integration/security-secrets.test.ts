import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HttpClient, ROOT, startServer, type RunningServer } from "../support/server";

// No secret or password reaches the logs, the browser bundle or a page; the publishable key
// reaches the browser only as loader data.
const SECRETS = {
  SESSION_SECRET: "session-secret-canary-0123456789abcdef",
  METRICS_TOKEN: "metrics-token-canary-0123456789",
  STRIPE_SECRET_KEY: "sk_test_secretkeycanary0123456789",
  STRIPE_WEBHOOK_SECRET: "whsec_webhookcanary0123456789",
  OPENAI_API_KEY: "openai-key-canary-0123456789",
};
const PUBLISHABLE_KEY = "pk_test_publishablecanary0123456789";
const PASSWORD = "Pa55word-canary-for-logs";
const WRONG_PASSWORD = "Wr0ng-canary-for-logs";

let server: RunningServer;
beforeAll(async () => {
  server = await startServer({
    ...SECRETS,
    STRIPE_PUBLISHABLE_KEY: PUBLISHABLE_KEY,
    STRIPE_EMULATOR: "on", // keys present, payments still through the emulator
    LOG_LEVEL: "debug", // the most the app ever logs
    ADMIN_EMAILS: "secrets-admin@example.com",
  });
});
afterAll(async () => {
  await server?.stop();
});

function walk(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)]));
}

describe("secrets in logs", () => {
  it("logs one structured line per request with a request id, and never a secret, password or cookie", async () => {
    const client = new HttpClient(server.url);
    await client.signup("secrets-admin@example.com", PASSWORD);
    const cookie = client.cookies.get("__session")!;
    await new HttpClient(server.url).post("/login", { email: "secrets-admin@example.com", password: WRONG_PASSWORD });
    await new HttpClient(server.url).post("/login", { email: "secrets-admin@example.com", password: PASSWORD });
    await fetch(`${server.url}/metrics`, { headers: { Authorization: `Bearer ${SECRETS.METRICS_TOKEN}` } });
    await fetch(`${server.url}/metrics`, { headers: { Authorization: "Bearer wrong-token-canary-0123" } });
    await client.get("/settings/billing");
    await client.get(`/login?password=${encodeURIComponent(PASSWORD)}`); // a secret in a query string
    const res = await client.get("/api/credits", { headers: { "X-Request-Id": "trace-id-from-proxy-42" } });
    expect(res.headers.get("x-request-id")).toBe("trace-id-from-proxy-42");

    // The line is written when the response has finished, which may be just after we read it.
    for (let i = 0; i < 50 && !server.output().includes('"reqId":"trace-id-from-proxy-42"'); i++) await new Promise((r) => setTimeout(r, 20));
    const log = server.output();
    const lines = log
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const requests = lines.filter((l) => l.msg === "request");
    expect(requests.length).toBeGreaterThanOrEqual(8);
    for (const r of requests) {
      expect(r.reqId).toEqual(expect.any(String));
      expect(r).toMatchObject({ method: expect.any(String), path: expect.any(String), status: expect.any(Number), ms: expect.any(Number) });
    }
    expect(requests.some((r) => r.reqId === "trace-id-from-proxy-42" && r.path === "/api/credits")).toBe(true);

    for (const [name, value] of Object.entries(SECRETS)) expect(log, name).not.toContain(value);
    expect(log).not.toContain(PASSWORD);
    expect(log).not.toContain(WRONG_PASSWORD);
    expect(log).not.toContain("wrong-token-canary");
    expect(log).not.toContain(cookie);
    expect(log).not.toMatch(/scrypt|\$argon|password_hash/i);
  });
});

describe("secrets in the browser", () => {
  it("the client bundle holds no secret-shaped value, no server-only module and no process.env", () => {
    const files = walk(path.join(ROOT, "public/build")).filter((f) => /\.(js|css|map)$/.test(f));
    expect(files.length).toBeGreaterThan(3);
    for (const file of files) {
      const text = fs.readFileSync(file, "utf8");
      const name = path.relative(ROOT, file);
      for (const pattern of [/sk_(test|live)_\w/, /rk_(test|live)_\w/, /whsec_\w/, /pk_(test|live)_\w/]) expect(text, name).not.toMatch(pattern);
      for (const word of ["SESSION_SECRET", "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "OPENAI_API_KEY", "METRICS_TOKEN", "process.env"]) {
        expect(text, `${name}: ${word}`).not.toContain(word);
      }
      for (const serverOnly of ["better-sqlite3", "password_hash", "drizzle-orm", "node:crypto"]) expect(text, `${name}: ${serverOnly}`).not.toContain(serverOnly);
    }
  });

  it("no module that can reach the browser reads the environment: config is server-only", () => {
    const modules = walk(path.join(ROOT, "app")).filter((f) => /\.(ts|tsx)$/.test(f) && !/\.server\.|\.test\./.test(f) && !f.includes(`${path.sep}services${path.sep}`));
    expect(modules.length).toBeGreaterThan(10);
    for (const file of modules) expect(fs.readFileSync(file, "utf8"), path.relative(ROOT, file)).not.toMatch(/process\.env|import\.meta\.env/);
  });

  it("pages carry no secret, and the publishable key only inside loader data", async () => {
    const client = new HttpClient(server.url);
    await client.signup("pages-secrets@example.com", PASSWORD);
    for (const page of ["/", "/login", "/signup", "/generate", "/settings/billing"]) {
      const html = await (await client.get(page)).text();
      for (const [name, value] of Object.entries(SECRETS)) expect(html, `${page}: ${name}`).not.toContain(value);
      expect(html, page).not.toContain(PASSWORD);
      // Wherever the publishable key appears, it is in the loader data Remix serialises
      // (window.__remixContext), never in markup or a bundle.
      const outsideLoaderData = html.replace(/<script[^>]*>window\.__remixContext = [\s\S]*?<\/script>/g, "");
      expect(outsideLoaderData, page).not.toContain(PUBLISHABLE_KEY);
    }
  });
});
