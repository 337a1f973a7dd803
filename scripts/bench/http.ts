// HTTP benchmarks against the built server on loopback: POST /api/generate-image (instant
// provider) vs a bare node:http baseline on the same database; signed webhook deliveries per
// second; peak RSS under that load; start-up time to the first 200 from /healthz.
// BENCH_HTTP_ON=postgres: the same app figures with the server on PostgreSQL (a throwaway cluster,
// or databases on BENCH_POSTGRES_URL's server); no baseline there (it is a SQLite program).
// Last line: JSON with every figure.
import { spawn, spawnSync } from "node:child_process";
import path from "node:path";
import autocannon from "autocannon";
import Stripe from "stripe";
import { STRIPE_API_VERSION } from "../../app/services/stripe.server";
import { startPostgres, type PgServer } from "../../tests/support/postgres";
import { freePort, median, peakRssMb, ROOT, round, signUpCookie, startBenchServer, tempDir } from "./support";

const DURATION = Number(process.env.BENCH_DURATION_SECONDS ?? 8);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 10);
const WEBHOOK_SECRET = "whsec_benchsecret0123456789abcdef";
const SESSION_SECRET = "bench-secret-bench-secret-bench-secret-00";

type Load = { requestsPerSec: number; p50Ms: number; p99Ms: number; non2xx: number; errors: number; total: number };

async function load(opts: autocannon.Options): Promise<Load> {
  const r = await autocannon({ duration: DURATION, connections: CONNECTIONS, ...opts });
  return {
    requestsPerSec: round(r.requests.average),
    p50Ms: r.latency.p50,
    p99Ms: r.latency.p99,
    non2xx: r.non2xx,
    errors: r.errors,
    total: r.requests.total,
  };
}

/**
 * A fresh start makes 18 fsyncs (two new SQLite files in WAL mode: the app's, the Stripe
 * emulator's). Right after the ledger parts have written gigabytes, the kernel is still writing
 * their dirty pages back and each of those fsyncs queues behind it (0.42 s quiet, 0.59 s in one full
 * run). `sync` first: the figure is our start, not the previous part's write-back.
 */
/** Waits for the kernel to write back what earlier parts left dirty (see startupTimes). */
function settle(): void {
  spawnSync("sync");
}

async function startupTimes(): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < 3; i++) {
    settle();
    const server = await startBenchServer({}, tempDir("startup"));
    times.push(server.startupMs);
    await server.stop();
  }
  return times;
}

const ON_POSTGRES = process.env.BENCH_HTTP_ON === "postgres";

async function main() {
  let pg: PgServer | null = null;
  if (ON_POSTGRES) {
    try {
      if (process.env.BENCH_POSTGRES_URL) process.env.TEST_POSTGRES_URL = process.env.BENCH_POSTGRES_URL;
      pg = await startPostgres();
    } catch (error) {
      console.log(`http on PostgreSQL: no PostgreSQL to measure on (${(error as Error).message.split("\n")[0]})`);
      console.log(JSON.stringify({ skipped: "no PostgreSQL server or binaries" }));
      return;
    }
  }
  try {
    await measureAll(pg);
  } finally {
    await pg?.stop();
  }
}

async function measureAll(pg: PgServer | null) {
  const databaseUrl = pg ? await pg.createDatabase() : null;
  const startup = pg ? [] : await startupTimes();
  if (!pg) console.log(`start-up to first 200 /healthz: ${startup.map((t) => round(t)).join(", ")} ms`);

  const dataDir = tempDir("http");
  const env = {
    ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
    NODE_ENV: "test", // GENERATION_PROVIDER=instant is refused in production
    SESSION_SECRET,
    STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
    GENERATION_PROVIDER: "instant",
    RATE_LIMIT_DISABLED: "1",
    AUTH_RATE_LIMIT_DISABLED: "1",
    SIGNUP_BONUS_CREDITS: "1000000",
  };
  const server = await startBenchServer(env, dataDir);
  const cookie = await signUpCookie(server.url, dataDir, "bench@example.com", databaseUrl);
  const body = JSON.stringify({ prompt: "a benchmark of the generation path", size: "256x256" });
  const headers = { "Content-Type": "application/json", Cookie: cookie, Origin: server.url };

  // Warm up, then measure the app. Both sides start from a written-back disk (settle()): every
  // request here waits on fsyncs, and the part before this one leaves gigabytes being written back.
  settle();
  await autocannon({ url: `${server.url}/api/generate-image`, method: "POST", headers, body, duration: 2, connections: CONNECTIONS });
  const app = await load({ url: `${server.url}/api/generate-image`, method: "POST", headers, body });
  console.log(`app      POST /api/generate-image: ${app.requestsPerSec} req/s, p50 ${app.p50Ms} ms, p99 ${app.p99Ms} ms, non-2xx ${app.non2xx}`);

  // Signed webhook deliveries: unique events of a type the app records and acknowledges.
  const signer = new Stripe("sk_test_bench", { apiVersion: STRIPE_API_VERSION });
  const payloads: Array<{ body: string; signature: string }> = [];
  const created = Math.floor(Date.now() / 1000);
  for (let i = 0; i < 60_000; i++) {
    const payload = JSON.stringify({
      id: `evt_bench_${i}`,
      object: "event",
      type: "charge.succeeded",
      api_version: STRIPE_API_VERSION,
      created,
      livemode: false,
      pending_webhooks: 1,
      request: { id: null, idempotency_key: null },
      data: { object: { id: `ch_bench_${i}`, object: "charge", amount: 500 } },
    });
    payloads.push({ body: payload, signature: signer.webhooks.generateTestHeaderString({ payload, secret: WEBHOOK_SECRET }) });
  }
  let next = 0;
  const webhooks = await load({
    url: `${server.url}/api/stripe/webhook`,
    method: "POST",
    requests: [
      {
        setupRequest: (req) => {
          const p = payloads[next++ % payloads.length]!;
          return { ...req, body: p.body, headers: { "Content-Type": "application/json", "Stripe-Signature": p.signature } };
        },
      },
    ],
  });
  console.log(`webhooks POST /api/stripe/webhook: ${webhooks.requestsPerSec} deliveries/s, p99 ${webhooks.p99Ms} ms, non-2xx ${webhooks.non2xx}`);
  const rssMb = peakRssMb(server.pid);
  console.log(`peak RSS of the app server under load: ${rssMb} MB`);
  await server.stop();
  if (pg) {
    console.log(JSON.stringify({ generateImage: { app }, webhooks, peakRssMb: rssMb, durationSeconds: DURATION, connections: CONNECTIONS }));
    return;
  }

  // The bare node:http baseline on the same database file (the app has stopped).
  const port = await freePort();
  const baseline = spawn(process.execPath, ["--import", "tsx", path.join(ROOT, "scripts/bench/baseline-server.ts"), path.join(dataDir, "app.sqlite"), String(port), SESSION_SECRET], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "inherit"],
  });
  await new Promise<void>((resolve) => baseline.stdout!.once("data", () => resolve()));
  const base = `http://127.0.0.1:${port}`;
  settle();
  await autocannon({ url: `${base}/api/generate-image`, method: "POST", headers, body, duration: 2, connections: CONNECTIONS });
  const bare = await load({ url: `${base}/api/generate-image`, method: "POST", headers, body });
  baseline.kill("SIGTERM");
  console.log(`baseline POST /api/generate-image: ${bare.requestsPerSec} req/s, p50 ${bare.p50Ms} ms, p99 ${bare.p99Ms} ms, non-2xx ${bare.non2xx}`);

  const report = {
    generateImage: { app, baseline: bare, ratio: round(app.requestsPerSec / bare.requestsPerSec, 3), target: 0.6 },
    webhooks: { ...webhooks, target: 2000 },
    peakRssMb: rssMb,
    peakRssTargetMb: 200,
    startupMs: round(median(startup)),
    startupTargetMs: 500,
    durationSeconds: DURATION,
    connections: CONNECTIONS,
  };
  console.log(JSON.stringify(report));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
