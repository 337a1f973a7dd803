import path from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HttpClient, startServer, type RunningServer } from "../support/server";

// Brute-force protection of /login and /signup, and the sign-up honeypot, against the built server.
// TRUST_PROXY=loopback lets each test speak from its own client address (X-Forwarded-For).
let server: RunningServer;
let untrusting: RunningServer;
beforeAll(async () => {
  [server, untrusting] = await Promise.all([
    startServer({
      RATE_LIMIT_DISABLED: "1", // the generation limits: the auth limits must not depend on this flag
      AUTH_RATE_LIMIT_DISABLED: "0",
      AUTH_LOGIN_FAILURES_PER_ACCOUNT: "3",
      AUTH_LOGIN_FAILURES_PER_IP: "5",
      AUTH_SIGNUPS_PER_IP_PER_HOUR: "3",
      TRUST_PROXY: "loopback",
    }),
    startServer({ AUTH_RATE_LIMIT_DISABLED: "0", AUTH_SIGNUPS_PER_IP_PER_HOUR: "2" }),
  ]);
});
afterAll(async () => {
  await Promise.all([server?.stop(), untrusting?.stop()]);
});

const from = (ip: string) => ({ headers: { "X-Forwarded-For": ip } });

async function signupFrom(ip: string, email: string) {
  return new HttpClient(server.url).post("/signup", { email, password: "password123" }, from(ip));
}
async function loginFrom(ip: string, email: string, password: string) {
  return new HttpClient(server.url).post("/login", { email, password }, from(ip));
}

describe("log-in brute force", () => {
  it("locks an account after 3 failures from anywhere, with 429, Retry-After and a clear message", async () => {
    expect((await signupFrom("198.51.100.1", "target@example.com")).status).toBe(303);
    expect((await loginFrom("198.51.100.2", "target@example.com", "guess-1")).status).toBe(400);
    expect((await loginFrom("198.51.100.3", "target@example.com", "guess-2")).status).toBe(400);
    const third = await loginFrom("198.51.100.4", "target@example.com", "guess-3");
    expect(third.status).toBe(429);
    expect(Number(third.headers.get("retry-after"))).toBeGreaterThanOrEqual(890);
    const html = await third.text();
    expect(html).toContain("Too many failed log-in attempts. Try again in 15 minutes.");

    // Locked: even the right password, from a fresh address, is refused (and not checked).
    const right = await loginFrom("198.51.100.5", "target@example.com", "password123");
    expect(right.status).toBe(429);
    expect(right.headers.get("set-cookie")).toBeNull();
    expect(await right.text()).toContain("Too many failed log-in attempts.");
  });

  it("locks an address that fails across many accounts, and only that address", async () => {
    for (let i = 0; i < 4; i++) {
      expect((await loginFrom("203.0.113.9", `nobody-${i}@example.com`, "guess")).status).toBe(400);
    }
    expect((await loginFrom("203.0.113.9", "nobody-4@example.com", "guess")).status).toBe(429);
    expect((await signupFrom("203.0.113.10", "innocent@example.com")).status).toBe(303);
    expect((await loginFrom("203.0.113.9", "innocent@example.com", "password123")).status).toBe(429);
    expect((await loginFrom("203.0.113.10", "innocent@example.com", "password123")).status).toBe(303);
  });

  it("a successful log-in forgives the account's earlier failures", async () => {
    await signupFrom("192.0.2.50", "forgetful@example.com");
    await loginFrom("192.0.2.51", "forgetful@example.com", "typo-1");
    await loginFrom("192.0.2.51", "forgetful@example.com", "typo-2");
    expect((await loginFrom("192.0.2.51", "forgetful@example.com", "password123")).status).toBe(303);
    expect((await loginFrom("192.0.2.52", "forgetful@example.com", "typo-3")).status).toBe(400);
    expect((await loginFrom("192.0.2.52", "forgetful@example.com", "typo-4")).status).toBe(400);
  });
});

describe("sign-up abuse", () => {
  it("limits sign-ups per address per hour", async () => {
    for (let i = 0; i < 3; i++) expect((await signupFrom("192.0.2.77", `bulk-${i}@example.com`)).status).toBe(303);
    const refused = await signupFrom("192.0.2.77", "bulk-3@example.com");
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(3000);
    expect(await refused.text()).toContain("Too many sign-up attempts from this network.");
    expect((await signupFrom("192.0.2.78", "bulk-3@example.com")).status).toBe(303);
  });

  it("a spoofed X-Forwarded-For does not get around the limit when no proxy is trusted", async () => {
    const client = (ip: string, email: string) =>
      new HttpClient(untrusting.url).post("/signup", { email, password: "password123" }, from(ip));
    expect((await client("10.0.0.1", "s1@example.com")).status).toBe(303);
    expect((await client("10.0.0.2", "s2@example.com")).status).toBe(303);
    expect((await client("10.0.0.3", "s3@example.com")).status).toBe(429);
  });

  it("refuses a sign-up whose honeypot field is filled in, and creates nothing", async () => {
    const page = await (await fetch(`${server.url}/signup`)).text();
    expect(page).toMatch(/<div class="hidden" aria-hidden="true">.*name="website".*tabindex="-1"/i);
    const res = await new HttpClient(server.url).post(
      "/signup",
      { email: "bot@example.com", password: "password123", website: "http://spam.example" },
      from("192.0.2.200"),
    );
    expect(res.status).toBe(400);
    expect(await res.text()).toContain("The form was not submitted properly.");
    const db = new Database(path.join(server.dataDir, "app.sqlite"), { readonly: true });
    try {
      expect(db.prepare("SELECT 1 FROM users WHERE email = 'bot@example.com'").get()).toBeUndefined();
    } finally {
      db.close();
    }
  });
});
