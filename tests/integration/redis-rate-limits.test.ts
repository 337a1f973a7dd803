import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { removeRedis, startRedis, type TestRedis } from "../support/redis";
import { HttpClient, startServer, type RunningServer } from "../support/server";
import { createKey, withKey } from "./api-keys-support";
import { postJson, uniqueEmail } from "./generation-support";

// REDIS_URL (decision 033): two instances of the built app on ONE SQLite file and one real
// redis-server share every limit — a burst split across both gets exactly N in total — the
// counts survive a restart (a memory store forgets, shown side by side), an outage leaves the
// limits in force per instance without refusing anyone for it, and a bad REDIS_URL stops start-up
// without showing the password.

const PASSWORD = "s3cret-redis-pass-4242";
const IMAGES_PER_MINUTE = 4;
const KEY_REQUESTS_PER_MINUTE = 6;
const LOGIN_FAILURES = 5;
const REDEEM_FAILURES = 3;

const LIMITS = {
  RATE_LIMIT_DISABLED: "0",
  RATE_LIMIT_IMAGES_PER_MINUTE: String(IMAGES_PER_MINUTE),
  RATE_LIMIT_KEY_REQUESTS_PER_MINUTE: String(KEY_REQUESTS_PER_MINUTE),
  AUTH_RATE_LIMIT_DISABLED: "0",
  AUTH_LOGIN_FAILURES_PER_ACCOUNT: String(LOGIN_FAILURES),
  AUTH_LOGIN_FAILURES_PER_IP: "100000",
  AUTH_SIGNUPS_PER_IP_PER_HOUR: "100000",
  REDEEM_FAILURES_PER_USER: String(REDEEM_FAILURES),
  REDEEM_FAILURES_PER_IP: "100000",
  SIGNUP_BONUS_CREDITS: "500",
  TRUST_PROXY: "loopback",
  LOG_LEVEL: "info",
  METRICS_TOKEN: "metrics-token-for-the-redis-tests",
};

let redis: TestRedis;
let a: RunningServer;
let b: RunningServer;
const others: RunningServer[] = [];

const env = () => ({ ...LIMITS, REDIS_URL: redis.url });

beforeAll(async () => {
  redis = await startRedis({ password: PASSWORD });
  a = await startServer(env());
  // Started after A has migrated the file they share.
  b = await startServer(env(), { dataDir: a.dataDir });
}, 60_000);

afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop(), ...others.map((s) => s.stop())]);
  await removeRedis(redis);
});

async function rateLimitsOf(server: RunningServer): Promise<string> {
  const res = await fetch(`${server.url}/healthz`);
  return ((await res.json()) as { rateLimits: string }).rateLimits;
}

async function rateLimitGauges(server: RunningServer): Promise<string[]> {
  const res = await fetch(`${server.url}/metrics`, { headers: { Authorization: `Bearer ${LIMITS.METRICS_TOKEN}` } });
  expect(res.status).toBe(200);
  return (await res.text()).split("\n").filter((l) => l.startsWith("rate_limit_store{"));
}

async function waitForRateLimits(servers: RunningServer[], state: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const states = await Promise.all(servers.map(rateLimitsOf));
    if (states.every((s) => s === state)) return;
    if (Date.now() > deadline) throw new Error(`rate limits never became ${state}: ${states.join(", ")}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The same session on the other instance (sessions live in the shared database). */
function sameUserOn(server: RunningServer, client: HttpClient): HttpClient {
  const twin = new HttpClient(server.url);
  twin.cookies = new Map(client.cookies);
  return twin;
}

async function signedInOnBoth(tag: string): Promise<[HttpClient, HttpClient]> {
  const onA = new HttpClient(a.url, { "X-Forwarded-For": `10.${Math.floor(Math.random() * 250)}.0.1` });
  await onA.signup(uniqueEmail(tag));
  return [onA, sameUserOn(b, onA)];
}

/** `count` image requests at once, alternating between the two instances. */
async function imageBurst(clients: [HttpClient, HttpClient], count: number): Promise<Response[]> {
  return Promise.all(Array.from({ length: count }, (_, i) => postJson(clients[i % 2]!, "/api/generate-image", { prompt: `tile ${i}`, size: "256x256" })));
}

async function expectRateLimited(res: Response, maxRetryAfter: number, minRetryAfter = 1): Promise<void> {
  expect(res.status).toBe(429);
  const retryAfter = Number(res.headers.get("retry-after"));
  expect(retryAfter).toBeGreaterThanOrEqual(minRetryAfter);
  expect(retryAfter).toBeLessThanOrEqual(maxRetryAfter);
}

function count(responses: Response[], status: number): number {
  return responses.filter((r) => r.status === status).length;
}

const wrongLogin = (server: RunningServer, email: string, i: number) =>
  new HttpClient(server.url).post("/login", { email, password: `guess-${i}` }, { headers: { "X-Forwarded-For": `198.18.7.${i + 1}` } });

describe("two instances, one Redis", () => {
  it("both report their limits in Redis, and neither log shows the password", async () => {
    expect(await rateLimitsOf(a)).toBe("redis");
    expect(await rateLimitsOf(b)).toBe("redis");
    expect(await rateLimitGauges(a)).toEqual(['rate_limit_store{store="memory"} 0', 'rate_limit_store{store="redis"} 1', 'rate_limit_store{store="redis-unreachable"} 0']);
    for (const s of [a, b]) {
      expect(s.output()).toContain("rate limits and brute-force counters are kept in Redis");
      expect(s.output()).not.toContain(PASSWORD);
    }
  });

  it(`images: 24 at once split across both → exactly ${IMAGES_PER_MINUTE} started in total, the rest 429 with Retry-After, spending nothing`, async () => {
    const clients = await signedInOnBoth("redis-img");
    const answers = await imageBurst(clients, 24);
    expect(count(answers, 201)).toBe(IMAGES_PER_MINUTE);
    expect(count(answers, 429)).toBe(24 - IMAGES_PER_MINUTE);
    const refused = answers.filter((r) => r.status === 429);
    for (const r of refused) await expectRateLimited(r, 60);
    expect(await refused[0]!.json()).toMatchObject({ error: "rate_limited" });
    const balance = (await (await clients[1].get("/api/credits")).json()) as { balance: number };
    expect(balance.balance).toBe(500 - IMAGES_PER_MINUTE * 5);
  });

  it(`log-in brute force: 30 wrong passwords at once across both → exactly ${LOGIN_FAILURES} checked, the rest and then the right one refused`, async () => {
    const email = uniqueEmail("redis-login");
    expect((await new HttpClient(a.url).post("/signup", { email, password: "password123" })).status).toBe(303);
    const answers = await Promise.all(Array.from({ length: 30 }, (_, i) => wrongLogin(i % 2 ? b : a, email, i)));
    expect(count(answers, 400)).toBe(LOGIN_FAILURES);
    expect(count(answers, 429)).toBe(30 - LOGIN_FAILURES);
    for (const r of answers.filter((x) => x.status === 429)) await expectRateLimited(r, 900, 890);
    for (const s of [a, b]) {
      const right = await new HttpClient(s.url).post("/login", { email, password: "password123" }, { headers: { "X-Forwarded-For": "198.18.8.1" } });
      await expectRateLimited(right, 900, 890);
      expect(right.headers.get("set-cookie")).toBeNull();
    }
  });

  it(`API key: 20 requests at once across both → exactly ${KEY_REQUESTS_PER_MINUTE} answered, the rest 429 rate_limited`, async () => {
    const [onA] = await signedInOnBoth("redis-key");
    const key = await createKey(onA, "burst");
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => withKey((i % 2 ? b : a).url, key.key, "/api/credits")));
    expect(count(answers, 200)).toBe(KEY_REQUESTS_PER_MINUTE);
    expect(count(answers, 429)).toBe(20 - KEY_REQUESTS_PER_MINUTE);
    const refused = answers.find((r) => r.status === 429)!;
    await expectRateLimited(refused, 60);
    expect(await refused.json()).toMatchObject({ error: "rate_limited", retryAfterSeconds: Number(refused.headers.get("retry-after")) });
  });

  it(`redeem guesses: 15 wrong codes at once across both → exactly ${REDEEM_FAILURES} looked up, the rest 429`, async () => {
    const clients = await signedInOnBoth("redis-redeem");
    const answers = await Promise.all(
      Array.from({ length: 15 }, (_, i) =>
        clients[i % 2]!.request("/api/redeem", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ code: `WRONGCODE${i}` }) }),
      ),
    );
    expect(count(answers, 404)).toBe(REDEEM_FAILURES);
    expect(count(answers, 429)).toBe(15 - REDEEM_FAILURES);
    const refused = answers.find((r) => r.status === 429)!;
    await expectRateLimited(refused, 3600, 3500);
    expect(await refused.json()).toMatchObject({ error: "rate_limited" });
  });
});

describe("a restart", () => {
  it("keeps the counts in Redis; a memory store forgets them", async () => {
    const lockOut = async (server: RunningServer, email: string) => {
      expect((await new HttpClient(server.url).post("/signup", { email, password: "password123" })).status).toBe(303);
      for (let i = 0; i < LOGIN_FAILURES; i++) expect((await wrongLogin(server, email, i)).status).toBe(400);
      await expectRateLimited(await wrongLogin(server, email, 99), 900, 890);
    };

    // In Redis: A is locked out for this account, restarted, and still locked out.
    const shared = uniqueEmail("redis-restart");
    await lockOut(a, shared);
    expect(await a.stop()).toBe(0);
    a = await startServer(env(), { dataDir: a.dataDir });
    await expectRateLimited(await wrongLogin(a, shared, 100), 900, 880);

    // In memory (no REDIS_URL): the same steps, and after the restart the password is checked again.
    let memory = await startServer(LIMITS);
    expect(await rateLimitsOf(memory)).toBe("memory");
    const forgotten = uniqueEmail("memory-restart");
    await lockOut(memory, forgotten);
    expect(await memory.stop()).toBe(0);
    memory = await startServer(LIMITS, { dataDir: memory.dataDir });
    others.push(memory);
    expect((await wrongLogin(memory, forgotten, 100)).status).toBe(400);
  }, 60_000);
});

describe("Redis goes away mid-run", () => {
  it("every request is still answered and limited per instance; Redis back, the limits are shared again", async () => {
    await redis.stop();
    await waitForRateLimits([a, b], "redis-unreachable");
    expect(await rateLimitGauges(b)).toContain('rate_limit_store{store="redis-unreachable"} 1');

    // A fresh user: each instance counts on its own now, so N on each, never more, never an error.
    const during = await signedInOnBoth("redis-outage");
    const answers = await imageBurst(during, 24);
    expect(answers.every((r) => r.status === 201 || r.status === 429)).toBe(true);
    expect(count(answers, 201)).toBe(2 * IMAGES_PER_MINUTE);
    for (const r of answers.filter((x) => x.status === 429)) await expectRateLimited(r, 60);
    const more = await imageBurst(during, 6);
    expect(count(more, 201)).toBe(0);

    // The outage is logged once per instance, not once per request or reconnect attempt.
    for (const s of [a, b]) {
      expect(s.output().match(/Redis unreachable: rate limits fall back to per-instance memory/g)).toHaveLength(1);
      expect(s.output()).not.toContain(PASSWORD);
    }

    // A graceful stop does not wait for a Redis that is not there.
    const stoppedAt = Date.now();
    expect(await b.stop()).toBe(0);
    expect(Date.now() - stoppedAt).toBeLessThan(10_000);

    await redis.start();
    b = await startServer(env(), { dataDir: a.dataDir });
    await waitForRateLimits([a, b], "redis");
    expect(a.output()).toContain("Redis is back: rate limits are shared again");

    const after = await signedInOnBoth("redis-back");
    const shared = await imageBurst(after, 24);
    expect(count(shared, 201)).toBe(IMAGES_PER_MINUTE);
    expect(count(shared, 429)).toBe(24 - IMAGES_PER_MINUTE);
  }, 90_000);
});

describe("rediss:// (TLS, as Upstash)", () => {
  it("connects over TLS and the limits hold there", async () => {
    const tlsRedis = await startRedis({ tls: true, password: PASSWORD });
    try {
      const server = await startServer({ ...LIMITS, REDIS_URL: tlsRedis.url, NODE_EXTRA_CA_CERTS: tlsRedis.caFile! });
      others.push(server);
      await waitForRateLimits([server], "redis");
      const email = uniqueEmail("redis-tls");
      expect((await new HttpClient(server.url).post("/signup", { email, password: "password123" })).status).toBe(303);
      const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => wrongLogin(server, email, i)));
      expect(count(answers, 400)).toBe(LOGIN_FAILURES);
      expect(count(answers, 429)).toBe(12 - LOGIN_FAILURES);
      expect(server.output()).not.toContain(PASSWORD);
      await server.stop();
    } finally {
      await removeRedis(tlsRedis);
    }
  }, 60_000);
});

describe("a bad REDIS_URL stops start-up", () => {
  it.each([
    ["http", `http://default:${PASSWORD}@127.0.0.1:6379`],
    ["https", `https://default:${PASSWORD}@redis.example.com`],
    ["spaces", "   "],
    ["a trailing space", `redis://default:${PASSWORD}@127.0.0.1:6379 `],
    ["a tab in the host", `redis://default:${PASSWORD}@127.0.\t0.1:6379`],
    ["no host", "redis://"],
    ["a password and no host", `redis://:${PASSWORD}@`],
    ["garbage", `${PASSWORD} is not a url`],
  ])("%s: exit 78, a message naming REDIS_URL, no password in it", async (_what, value) => {
    const failed = await startServer({ ...LIMITS, REDIS_URL: value }).then(
      (s) => (others.push(s), "started"),
      (error: Error) => error.message,
    );
    expect(failed).toMatch(/^server exited with 78:/);
    expect(failed).toMatch(/REDIS_URL must be a redis:\/\/ or rediss:\/\/ URL with a host/);
    expect(failed).not.toContain(PASSWORD);
  });

  it.each([
    ["a wrong password", `redis://:wrong-${PASSWORD}@127.0.0.1:PORT`],
    ["no password for a Redis that wants one", "redis://127.0.0.1:PORT"],
  ])("%s: exit 78 saying Redis refused the credentials, the password not shown", async (_what, template) => {
    const value = template.replace("PORT", String(redis.port));
    const failed = await startServer({ ...LIMITS, REDIS_URL: value }).then(
      (s) => (others.push(s), "started"),
      (error: Error) => error.message,
    );
    expect(failed).toMatch(/^server exited with 78:/);
    expect(failed).toContain("REDIS_URL was refused by Redis: wrong user or password");
    expect(failed).not.toContain(PASSWORD);
  });

  it("an empty REDIS_URL means unset, as for every variable: the limits stay in memory", async () => {
    const server = await startServer({ ...LIMITS, REDIS_URL: "" });
    others.push(server);
    expect(await rateLimitsOf(server)).toBe("memory");
  });
});

describe("the test support", () => {
  it("says how to install redis-server when it is missing", async () => {
    const saved = process.env.REDIS_SERVER_BIN;
    process.env.REDIS_SERVER_BIN = "/nonexistent/redis-server";
    try {
      await expect(startRedis()).rejects.toThrow(/apt-get install redis-server/);
    } finally {
      if (saved === undefined) delete process.env.REDIS_SERVER_BIN;
      else process.env.REDIS_SERVER_BIN = saved;
    }
  });
});
