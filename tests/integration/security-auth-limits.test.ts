import path from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HttpClient, startServer, type RunningServer } from "../support/server";

// Brute-force protection of /login and /signup, and the sign-up honeypot, against the built server.
// TRUST_PROXY=loopback lets each test speak from its own client address (X-Forwarded-For).
let server: RunningServer;
let untrusting: RunningServer;
let parallel: RunningServer;
beforeAll(async () => {
  [server, untrusting, parallel] = await Promise.all([
    startServer({
      RATE_LIMIT_DISABLED: "1", // the generation limits: the auth limits must not depend on this flag
      AUTH_RATE_LIMIT_DISABLED: "0",
      AUTH_LOGIN_FAILURES_PER_ACCOUNT: "3",
      AUTH_LOGIN_FAILURES_PER_IP: "5",
      AUTH_SIGNUPS_PER_IP_PER_HOUR: "3",
      TRUST_PROXY: "loopback",
    }),
    startServer({ AUTH_RATE_LIMIT_DISABLED: "0", AUTH_SIGNUPS_PER_IP_PER_HOUR: "2" }),
    // The audit's numbers: a limit of 10, and 41 log-ins arriving at once.
    startServer({
      AUTH_RATE_LIMIT_DISABLED: "0",
      AUTH_LOGIN_FAILURES_PER_ACCOUNT: "10",
      AUTH_LOGIN_FAILURES_PER_IP: "10",
      AUTH_SIGNUPS_PER_IP_PER_HOUR: "100",
      TRUST_PROXY: "loopback",
    }),
  ]);
});
afterAll(async () => {
  await Promise.all([server?.stop(), untrusting?.stop(), parallel?.stop()]);
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
    expect((await loginFrom("198.51.100.3", "target@example.com", "guess-3")).status).toBe(400);
    const fourth = await loginFrom("198.51.100.4", "target@example.com", "guess-4");
    expect(fourth.status).toBe(429);
    expect(Number(fourth.headers.get("retry-after"))).toBeGreaterThanOrEqual(890);
    const html = await fourth.text();
    expect(html).toContain("Too many failed log-in attempts. Try again in 15 minutes.");
    // Refused without a password check: the answer does not say whether the guess was wrong.
    expect(html).not.toContain("Email or password is incorrect.");

    // Locked: even the right password, from a fresh address, is refused (and not checked).
    const right = await loginFrom("198.51.100.5", "target@example.com", "password123");
    expect(right.status).toBe(429);
    expect(right.headers.get("set-cookie")).toBeNull();
    expect(await right.text()).toContain("Too many failed log-in attempts.");
  });

  it("locks an address that fails across many accounts, and only that address", async () => {
    for (let i = 0; i < 5; i++) {
      expect((await loginFrom("203.0.113.9", `nobody-${i}@example.com`, "guess")).status).toBe(400);
    }
    expect((await loginFrom("203.0.113.9", "nobody-5@example.com", "guess")).status).toBe(429);
    expect((await signupFrom("203.0.113.10", "innocent@example.com")).status).toBe(303);
    expect((await loginFrom("203.0.113.9", "innocent@example.com", "password123")).status).toBe(429);
    expect((await loginFrom("203.0.113.10", "innocent@example.com", "password123")).status).toBe(303);
  });

  it("a successful log-in gives its point back; the failures keep theirs", async () => {
    expect((await signupFrom("192.0.2.50", "forgetful@example.com")).status).toBe(303);
    expect((await loginFrom("192.0.2.51", "forgetful@example.com", "typo-1")).status).toBe(400);
    expect((await loginFrom("192.0.2.51", "forgetful@example.com", "typo-2")).status).toBe(400);
    // Without the refund the second of these would already be past the limit of 3.
    for (let i = 0; i < 4; i++) expect((await loginFrom("192.0.2.51", "forgetful@example.com", "password123")).status).toBe(303);
    expect((await loginFrom("192.0.2.52", "forgetful@example.com", "typo-3")).status).toBe(400);
    expect((await loginFrom("192.0.2.52", "forgetful@example.com", "typo-4")).status).toBe(429);
  });
});

// 41 log-ins at once, 40 wrong and the right one last. Each must take its point before its password
// is checked: only the first 10 are checked (400), every later one is refused unchecked (429, no
// "incorrect" in it, no session), so the right one is refused, and so is the right one afterwards.
async function parallelLogins(attempts: Array<{ ip: string; email: string; password: string }>) {
  const answers = await Promise.all(
    attempts.map(async (a) => {
      const res = await new HttpClient(parallel.url).post("/login", { email: a.email, password: a.password }, from(a.ip));
      return { status: res.status, retryAfter: res.headers.get("retry-after"), location: res.headers.get("location"), cookie: res.headers.get("set-cookie"), body: await res.text() };
    }),
  );
  const checked = answers.filter((a) => a.status !== 429);
  const refused = answers.filter((a) => a.status === 429);
  expect(checked.length).toBeLessThanOrEqual(10);
  // Not one of them got in: no 303 to the app, no session.
  expect(checked.filter((a) => a.status !== 400).map((a) => ({ status: a.status, location: a.location }))).toEqual([]);
  expect(refused.length).toBeGreaterThanOrEqual(31);
  for (const r of refused) {
    expect(Number(r.retryAfter)).toBeGreaterThanOrEqual(890);
    expect(r.location).toBeNull();
    expect(r.cookie).toBeNull();
    expect(r.body).toContain("Too many failed log-in attempts.");
    expect(r.body).not.toContain("Email or password is incorrect.");
  }
  return answers;
}

describe("log-in brute force, in parallel", () => {
  it("per account: 41 at once (40 wrong, the right one last) → at most 10 checked, the right one refused", async () => {
    expect((await new HttpClient(parallel.url).post("/signup", { email: "victim@example.com", password: "password123" }, from("198.18.0.1"))).status).toBe(303);
    const attempts = Array.from({ length: 40 }, (_, i) => ({ ip: `198.18.1.${i + 1}`, email: "victim@example.com", password: `guess-${i}` }));
    attempts.push({ ip: "198.18.2.1", email: "victim@example.com", password: "password123" });
    const answers = await parallelLogins(attempts);
    expect(answers.at(-1)!.status).toBe(429);
    // During the lock the right password is refused too, from a fresh address.
    const later = await loginFromParallel("198.18.3.1", "victim@example.com", "password123");
    expect(later.status).toBe(429);
    expect(later.headers.get("set-cookie")).toBeNull();
  });

  it("per IP: 41 at once across many accounts (the right one last) → at most 10 checked, the right one refused", async () => {
    expect((await new HttpClient(parallel.url).post("/signup", { email: "neighbour@example.com", password: "password123" }, from("198.18.9.1"))).status).toBe(303);
    const attempts = Array.from({ length: 40 }, (_, i) => ({ ip: "198.18.10.1", email: `spray-${i}@example.com`, password: "Winter2024!" }));
    attempts.push({ ip: "198.18.10.1", email: "neighbour@example.com", password: "password123" });
    const answers = await parallelLogins(attempts);
    expect(answers.at(-1)!.status).toBe(429);
    expect((await loginFromParallel("198.18.10.1", "neighbour@example.com", "password123")).status).toBe(429);
    // Only that address is locked, and the refusals did not use up the account's own allowance.
    expect((await loginFromParallel("198.18.10.2", "neighbour@example.com", "password123")).status).toBe(303);
  });

  it("successful log-ins give their points back, also when they arrive together", async () => {
    expect((await new HttpClient(parallel.url).post("/signup", { email: "regular@example.com", password: "password123" }, from("198.18.20.1"))).status).toBe(303);
    for (let i = 0; i < 5; i++) expect((await loginFromParallel("198.18.20.2", "regular@example.com", "typo")).status).toBe(400);
    // 5 points left for the account and the address; 5 right passwords at once all get in, then
    // 5 more: none of them costs a point once it has succeeded.
    for (let round = 0; round < 2; round++) {
      const batch = await Promise.all(Array.from({ length: 5 }, () => loginFromParallel("198.18.20.2", "regular@example.com", "password123")));
      expect(batch.map((r) => r.status)).toEqual([303, 303, 303, 303, 303]);
    }
    for (let i = 0; i < 5; i++) expect((await loginFromParallel("198.18.20.2", "regular@example.com", "typo")).status).toBe(400);
    expect((await loginFromParallel("198.18.20.3", "regular@example.com", "password123")).status).toBe(429);
  });
});

async function loginFromParallel(ip: string, email: string, password: string) {
  return new HttpClient(parallel.url).post("/login", { email, password }, from(ip));
}

describe("sign-up abuse", () => {
  it("limits sign-ups per address when they arrive at once, and creates only the allowed accounts", async () => {
    const answers = await Promise.all(Array.from({ length: 30 }, (_, i) => signupFrom("192.0.2.90", `burst-${i}@example.com`)));
    expect(answers.filter((r) => r.status === 303)).toHaveLength(3);
    expect(answers.filter((r) => r.status === 429)).toHaveLength(27);
    const db = new Database(path.join(server.dataDir, "app.sqlite"), { readonly: true });
    try {
      expect(db.prepare("SELECT COUNT(*) AS n FROM users WHERE email LIKE 'burst-%'").get()).toEqual({ n: 3 });
    } finally {
      db.close();
    }
  });

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
