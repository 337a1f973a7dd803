import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Stripe from "stripe";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { STRIPE_API_VERSION } from "../../app/services/stripe.server";
import { startStripeEmulator, type StripeEmulator } from "../../stripe-emulator/src/index.server";
import { startFakeOpenAI, type FakeOpenAI } from "../mocks/openai-server";
import { startPostgres, type PgServer } from "../support/postgres";
import { startRedis, removeRedis, type TestRedis } from "../support/redis";
import { startRoundRobinProxy, type RoundRobinProxy } from "../support/round-robin-proxy";
import { startS3, type RunningS3 } from "../support/s3";
import { HttpClient, registerDataDir, startServer, type RunningServer } from "../support/server";
import { withServerSql } from "../support/server-sql";
import { createKey, imageWithKey } from "./api-keys-support";
import { balanceOf, expectServerLedgerConsistent, postJson, uniqueEmail, waitForJob } from "./generation-support";

// Issue 18's proof: two instances of the same built app on one PostgreSQL, rate limits in Redis,
// result files in S3-compatible storage, one Stripe (an emulator both reach, sending its webhooks
// to the balancer), behind a round-robin balancer that passes over a dead instance.

const WEBHOOK_SECRET = "whsec_scaleouttestsecret0123456789";
const KEY_LIMIT = 7;
const LEASE_SECONDS = 3;
const VIDEO_COST = 30;

let pg: PgServer;
let redis: TestRedis;
let s3: RunningS3;
let fake: FakeOpenAI;
let proxy: RoundRobinProxy;
let emulator: StripeEmulator;
let stripe: Stripe;
let databaseUrl: string;
let sharedDir: string;
const instances: RunningServer[] = [];
const dirs: string[] = [];

function instanceEnv(): Record<string, string> {
  return {
    DATABASE_URL: databaseUrl,
    REDIS_URL: redis.url,
    ...s3.env,
    APP_URL: proxy.url,
    TRUST_PROXY: "1",
    STRIPE_EMULATOR: "off",
    STRIPE_SECRET_KEY: "sk_test_scaleout",
    STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
    STRIPE_API_BASE: emulator.url,
    STRIPE_PRICE_ID_CREDITS_PACK: "price_credits_pack",
    CREDITS_PER_PACK: "500",
    GENERATION_PROVIDER: "openai",
    OPENAI_BASE_URL: fake.url,
    OPENAI_API_KEY: fake.apiKey,
    SIGNUP_BONUS_CREDITS: "100",
    IMAGE_COST: "10",
    VIDEO_COST: String(VIDEO_COST),
    // The limits are on here (startServer turns them off): they must hold across both instances.
    RATE_LIMIT_DISABLED: "0",
    RATE_LIMIT_IMAGES_PER_MINUTE: "100000",
    RATE_LIMIT_VIDEOS_PER_MINUTE: "100000",
    RATE_LIMIT_RUNNING_VIDEOS: "1000",
    RATE_LIMIT_KEY_REQUESTS_PER_MINUTE: String(KEY_LIMIT),
    // Short, so the kill -9 case sees the survivor take a dead instance's video over in seconds.
    VIDEO_LEASE_SECONDS: String(LEASE_SECONDS),
  };
}

async function startInstance(): Promise<RunningServer> {
  // One DATA_DIR for both, as a shared volume: the mail outbox the tests read; results are in S3.
  return startServer(instanceEnv(), { dataDir: sharedDir, databaseUrl });
}

beforeAll(async () => {
  [pg, redis, s3, fake, proxy] = await Promise.all([startPostgres(), startRedis(), startS3(), startFakeOpenAI({ videoDurationMs: 3000 }), startRoundRobinProxy()]);
  databaseUrl = await pg.createDatabase();
  sharedDir = fs.mkdtempSync(path.join(os.tmpdir(), "credits-scale-out-"));
  dirs.push(sharedDir);
  const emulatorDir = fs.mkdtempSync(path.join(os.tmpdir(), "credits-scale-out-stripe-"));
  dirs.push(emulatorDir);
  emulator = await startStripeEmulator({
    dbPath: path.join(emulatorDir, "emulator.sqlite"),
    webhookUrl: `${proxy.url}/api/stripe/webhook`,
    webhookSecret: WEBHOOK_SECRET,
    prices: [{ id: "price_credits_pack", unitAmount: 500, currency: "usd", productName: "500 credits" }],
  });
  stripe = new Stripe("sk_test_scaleout", { apiVersion: STRIPE_API_VERSION, host: emulator.host, port: emulator.port, protocol: "http" });
  // Two instances starting at once on the empty database: each migrates, one applies.
  instances.push(...(await Promise.all([startInstance(), startInstance()])));
  proxy.setBackends(instances.map((s) => s.url));
  registerDataDir(proxy.url, sharedDir);
}, 120_000);

afterAll(async () => {
  for (const s of instances) await s.stop();
  await proxy?.close();
  await emulator?.close();
  await fake?.close();
  await s3?.stop();
  await removeRedis(redis);
  await pg?.stop();
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

async function customer(tag: string): Promise<HttpClient> {
  const client = new HttpClient(proxy.url);
  await client.signup(uniqueEmail(tag));
  return client;
}

async function until<T>(what: string, probe: () => Promise<T>, ok: (v: T) => boolean, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (ok(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last value ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const served = (prefix: string) => new Set(proxy.log.filter((l) => l.request.includes(prefix)).map((l) => l.backend));

describe("two instances on one PostgreSQL, behind a round-robin balancer", () => {
  it("a purchase whose webhook lands on one instance and success page on the other is granted once", { timeout: 60_000 }, async () => {
    const client = await customer("scale-buy");
    const before = (await balanceOf(client)).balance;
    proxy.pinPath("/api/stripe/webhook", 0);
    proxy.pinPath("/settings/billing/success", 1);
    try {
      const res = await client.post("/api/stripe/checkout", { pack: "default" }, { headers: { Accept: "application/json" } });
      expect(res.status).toBe(200);
      const session = (await res.json()) as { id: string };
      const paid = await fetch(`${emulator.url}/__emulator/checkout/sessions/${session.id}/pay`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ outcome: "paid" }),
      });
      expect(paid.status).toBe(200);
      // The success page (instance 1) and the webhook (instance 0) race to fulfil the same payment.
      const visits = await Promise.all(Array.from({ length: 3 }, () => client.get(`/settings/billing/success?session_id=${session.id}`)));
      for (const v of visits) expect(v.status).toBeLessThan(400);
      await until("the purchase", async () => (await balanceOf(client)).balance, (b) => b === before + 500);
      await until("the webhook's delivery", async () => served("/api/stripe/webhook").size, (n) => n > 0);
      // Resent by Stripe, it still grants nothing more.
      const events = (await (await fetch(`${emulator.url}/__emulator/events?limit=100`)).json()) as { data: Array<{ event: Stripe.Event }> };
      const completed = events.data.find((d) => d.event.type === "checkout.session.completed" && (d.event.data.object as { id: string }).id === session.id);
      expect(completed).toBeDefined();
      await fetch(`${emulator.url}/__emulator/events/${completed!.event.id}/resend`, { method: "POST", headers: { "Content-Type": "application/json" }, body: "{}" });
      await new Promise((r) => setTimeout(r, 500));
      expect((await balanceOf(client)).balance).toBe(before + 500);
      const rows = await withServerSql(instances[0]!, (sql) => sql.all<{ amount: number }>("SELECT amount FROM transactions WHERE idempotency_key = ?", [`checkout:${session.id}`]));
      expect(rows).toEqual([{ amount: 500 }]);
      expect(served("/api/stripe/webhook")).toEqual(new Set([0]));
      expect(served("/settings/billing/success")).toEqual(new Set([1]));
      const retrieved = await stripe.checkout.sessions.retrieve(session.id);
      expect(retrieved.payment_status).toBe("paid");
    } finally {
      proxy.pinPath("/api/stripe/webhook", null);
      proxy.pinPath("/settings/billing/success", null);
    }
  });

  it("30 parallel images from 100 credits at 10 each, spread over both: exactly 10 are made, none overspent", { timeout: 60_000 }, async () => {
    const client = await customer("scale-spend");
    expect((await balanceOf(client)).balance).toBe(100);
    const from = proxy.log.length;
    const answers = await Promise.all(Array.from({ length: 30 }, (_, i) => postJson(client, "/api/generate-image", { prompt: `fox ${i}`, })));
    const statuses = answers.map((r) => r.status);
    expect(statuses.filter((s) => s === 200 || s === 201 || s === 202).length).toBe(10);
    expect(statuses.filter((s) => s === 402).length).toBe(20);
    const backends = new Set(proxy.log.slice(from).filter((l) => l.request.startsWith("POST /api/generate-image")).map((l) => l.backend));
    expect(backends).toEqual(new Set([0, 1]));
    const after = await balanceOf(client);
    expect(after.balance).toBe(0);
    expect(after.onHold).toBe(0);
    await expectServerLedgerConsistent(instances[0]!);
    // Every image is readable through either instance (the files are in S3, not on one disk).
    const jobs = (await Promise.all(answers.filter((r) => r.status < 300).map((r) => r.json()))) as Array<{ job: { id: string } }>;
    for (const { job } of jobs.slice(0, 4)) {
      for (const backend of [0, 1]) {
        proxy.pin(backend);
        try {
          const done = await waitForJob(client, job.id, (j) => j.status === "succeeded");
          const file = await client.get(done.resultUrl!);
          expect(file.status).toBe(200);
          expect(file.headers.get("content-type")).toMatch(/^image\//);
        } finally {
          proxy.pin(null);
        }
      }
    }
  });

  it(`an API key's limit of ${KEY_LIMIT} a minute holds across both instances (Redis)`, { timeout: 60_000 }, async () => {
    const client = await customer("scale-key");
    const { key } = await createKey(client, "scale-out");
    const from = proxy.log.length;
    const answers = await Promise.all(Array.from({ length: 20 }, () => imageWithKey(proxy.url, key)));
    const statuses = answers.map((r) => r.status);
    expect(statuses.filter((s) => s === 429).length).toBe(20 - KEY_LIMIT);
    expect(statuses.filter((s) => s < 300).length).toBe(KEY_LIMIT);
    expect(new Set(proxy.log.slice(from).map((l) => l.backend))).toEqual(new Set([0, 1]));
  });

  // Last: it kills one instance.
  it("kill -9 of the instance running a video: the other takes it over, it is made once and charged once", { timeout: 90_000 }, async () => {
    const client = await customer("scale-kill");
    expect((await balanceOf(client)).balance).toBe(100);
    const videosBefore = fake.videos.size;
    const res = await postJson(client, "/api/generate-video", { prompt: "a lighthouse in a storm" });
    expect(res.status).toBe(202);
    const { job } = (await res.json()) as { job: { id: string } };
    // Mid-video: the provider has the job and one instance holds its lease.
    await waitForJob(client, job.id, (j) => j.status === "running" && j.progress > 0);
    const lease = await withServerSql(instances[0]!, (sql) =>
      sql.get<{ owner: string | null; status: string }>(`SELECT lease_owner AS owner, status FROM generations WHERE id = ?`, [job.id]),
    );
    expect(lease?.status).toBe("running");
    const victim = instances.findIndex((s) => lease?.owner?.includes(`:${s.process.pid}:`));
    expect(victim, `lease owner ${lease?.owner} is one of the instances`).toBeGreaterThanOrEqual(0);
    const held = (await balanceOf(client)).onHold;
    expect(held).toBeGreaterThan(0);
    expect(await balanceOf(client)).toMatchObject({ balance: 100 - held, onHold: held });

    await instances[victim]!.stop("SIGKILL");
    const survivor = 1 - victim;
    // The balancer passes over the dead instance; the survivor's scan finds the lapsed lease.
    const done = await waitForJob(client, job.id, (j) => j.status === "succeeded" || j.status === "failed", 60_000);
    expect(done.status).toBe("succeeded");
    const taken = await withServerSql(instances[survivor]!, (sql) =>
      sql.get<{ owner: string | null }>(`SELECT lease_owner AS owner FROM generations WHERE id = ?`, [job.id]),
    );
    expect(taken?.owner ?? "").not.toContain(`:${instances[victim]!.process.pid}:`);
    // One provider job (polled again, not made again), one charge, nothing left on hold.
    expect(fake.videos.size).toBe(videosBefore + 1);
    expect(await balanceOf(client)).toMatchObject({ balance: 100 - held, onHold: 0 });
    const rows = await withServerSql(instances[survivor]!, (sql) =>
      sql.all<{ status: string; amount: number }>(`SELECT t.status, t.amount FROM transactions t JOIN generations g ON g.hold_id = t.id WHERE g.id = ?`, [job.id]),
    );
    expect(rows).toEqual([{ status: "posted", amount: -held }]);
    const file = await client.get(done.resultUrl!);
    expect(file.status).toBe(200);
    await expectServerLedgerConsistent(instances[survivor]!);
  });
});
