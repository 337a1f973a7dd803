// Page latency of the billing dashboard and the admin console, with a small database and with a
// large one (100,000 users, 1,000,000 ledger rows by default), each seeded by scripts/seed-large.ts
// and served by the BUILT app (`node server.js`) on loopback, both servers at once. Each page is
// requested a few hundred times after a warm-up, one request at a time, alternating between the two
// servers (noise on this 2-core machine then lands on both sides alike); the figures are
// p50/p99/mean of the full response (headers and body), with the body's size beside them so a
// reader sees that both sides rendered the same rows. The small database has enough history
// (10,000 rows) that the heavy user's pages are full on both. Last line: JSON with every figure.
//
//   npm run build && npx tsx scripts/bench/pages.ts
//
// BENCH_PAGES_REQUESTS (600) and BENCH_PAGES_WARMUP (20) per page; BENCH_PAGES_CONCURRENCY (1);
// BENCH_SMALL_USERS/_TRANSACTIONS (100 / 10,000), BENCH_LARGE_USERS/_TRANSACTIONS (100,000 /
// 1,000,000); BENCH_PAGES_LARGE_DB=/path/app.sqlite reuses a database seeded earlier with the
// default options (it is copied, never changed); BENCH_PAGES_SCENARIOS=small,large.
import fs from "node:fs";
import path from "node:path";
import { closeDatabase, openMigratedDatabase } from "../../db/client.server";
import { SEED_ADMIN_EMAIL, SEED_HEAVY_EMAIL, SEED_PASSWORD, seedLarge, type SeedResult } from "../seed-large";
import { round, startBenchServer, tempDir } from "./support";

const REQUESTS = Number(process.env.BENCH_PAGES_REQUESTS ?? 600);
const WARMUP = Number(process.env.BENCH_PAGES_WARMUP ?? 20);
const CONCURRENCY = Math.max(1, Number(process.env.BENCH_PAGES_CONCURRENCY ?? 1));
const CSV_REQUESTS = Number(process.env.BENCH_PAGES_CSV_REQUESTS ?? 5);

type Scenario = { name: string; users: number; transactions: number; reuse?: string };
/** firstMs: the very first request (cold caches: SQLite pages, the overview's closed days). */
type Stats = { n: number; firstMs: number; p50Ms: number; p99Ms: number; meanMs: number; maxMs: number; bytes: number; status: number };
type Endpoint = { name: string; who: "typical" | "heavy" | "admin"; path: string; requests?: number };

const scenarios: Scenario[] = [
  {
    name: "small",
    users: Number(process.env.BENCH_SMALL_USERS ?? 100),
    transactions: Number(process.env.BENCH_SMALL_TRANSACTIONS ?? 10_000),
  },
  {
    name: "large",
    users: Number(process.env.BENCH_LARGE_USERS ?? 100_000),
    transactions: Number(process.env.BENCH_LARGE_TRANSACTIONS ?? 1_000_000),
    reuse: process.env.BENCH_PAGES_LARGE_DB,
  },
].filter((s) => (process.env.BENCH_PAGES_SCENARIOS ?? "small,large").split(",").includes(s.name));

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function logIn(url: string, email: string): Promise<string> {
  const res = await fetch(`${url}/login`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded", Origin: url },
    body: new URLSearchParams({ email, password: SEED_PASSWORD }),
    redirect: "manual",
  });
  const cookie = res.headers.getSetCookie().find((c) => c.startsWith("__session="));
  if (res.status !== 303 || !cookie) throw new Error(`log-in as ${email} failed: ${res.status}`);
  return cookie.split(";")[0]!;
}

async function timeOnce(url: string, cookie: string): Promise<{ ms: number; bytes: number; status: number }> {
  const started = performance.now();
  const res = await fetch(url, { headers: { Cookie: cookie }, redirect: "manual" });
  const body = await res.arrayBuffer();
  return { ms: performance.now() - started, bytes: body.byteLength, status: res.status };
}

type Timing = { ms: number; bytes: number; status: number };

function statsOf(first: Timing, runs: Timing[]): Stats {
  const times = runs.map((r) => r.ms).sort((a, b) => a - b);
  const last = runs[runs.length - 1] ?? first;
  return {
    n: times.length,
    firstMs: round(first.ms, 2),
    p50Ms: round(percentile(times, 50), 2),
    p99Ms: round(percentile(times, 99), 2),
    meanMs: round(times.reduce((a, b) => a + b, 0) / times.length, 2),
    maxMs: round(times[times.length - 1]!, 2),
    bytes: last.bytes,
    // Any answer but 200 fails the page, not only the last one's.
    status: [first, ...runs].find((r) => r.status !== 200)?.status ?? last.status,
  };
}

/**
 * One page on every scenario's server, the requests INTERLEAVED (small, large, small, large...):
 * whatever else the machine does meanwhile (a compaction, the client's own GC) lands on both sides
 * alike, so the ratio compares the databases rather than two stretches of time.
 */
async function measurePaired(targets: Array<{ url: string; cookie: string }>, requests: number, warmup: number): Promise<Stats[]> {
  const firsts: Timing[] = [];
  for (const t of targets) firsts.push(await timeOnce(t.url, t.cookie));
  for (let i = 1; i < warmup; i++) for (const t of targets) await timeOnce(t.url, t.cookie);
  const runs: Timing[][] = targets.map(() => []);
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < requests) {
        next++;
        for (const [i, t] of targets.entries()) runs[i]!.push(await timeOnce(t.url, t.cookie));
      }
    }),
  );
  return targets.map((_, i) => statsOf(firsts[i]!, runs[i]!));
}

/** The cursor of the next page, read from a page's own "Older" / "Next" link. */
async function cursorFrom(url: string, cookie: string, param: "older" | "after"): Promise<string> {
  const html = await (await fetch(url, { headers: { Cookie: cookie } })).text();
  const match = new RegExp(`[?&;]${param}=([A-Za-z0-9_-]+)`).exec(html);
  if (!match) throw new Error(`no ${param} cursor on ${url}`);
  return match[1]!;
}

async function prepareDatabase(scenario: Scenario, dataDir: string): Promise<{ seed: Pick<SeedResult, "typical" | "seconds"> }> {
  const file = path.join(dataDir, "app.sqlite");
  if (scenario.reuse) {
    fs.copyFileSync(scenario.reuse, file);
    // A reused file: a typical user as the seeder picks one, with a row count close to the average
    // over ALL users (the seeder gives low ids more activity: the first thousand have ~20 rows, twice
    // the average, which made the reused database's "typical" page twice as long as a fresh one's).
    const db = openMigratedDatabase(file);
    try {
      const row = db.sqlite
        .prepare(
          `SELECT u.id AS id, u.email AS email, c.n AS rows
           FROM (SELECT user_id, count(*) AS n FROM transactions WHERE user_id > 2 GROUP BY user_id) c JOIN users u ON u.id = c.user_id
           ORDER BY abs(c.n - ?), u.id LIMIT 1`,
        )
        .get(scenario.transactions / scenario.users) as { id: number; email: string; rows: number };
      return { seed: { typical: row, seconds: 0 } };
    } finally {
      closeDatabase(db);
    }
  }
  const db = openMigratedDatabase(file);
  try {
    const seed = await seedLarge(db, {
      users: scenario.users,
      transactions: scenario.transactions,
      verify: process.env.BENCH_VERIFY !== "0",
      log: (m) => console.log(`    ${m}`),
    });
    if (seed.violations) throw new Error(`the seeded ledger has ${seed.violations} violation(s)`);
    return { seed };
  } finally {
    closeDatabase(db);
  }
}

type Prepared = {
  scenario: Scenario;
  dataDir: string;
  dbMb: number;
  seed: Pick<SeedResult, "typical" | "seconds">;
  server: Awaited<ReturnType<typeof startBenchServer>>;
  cookies: Record<Endpoint["who"], string>;
  endpoints: Endpoint[];
};

async function prepareScenario(scenario: Scenario): Promise<Prepared> {
  console.log(`\n== ${scenario.name}: ${scenario.users.toLocaleString("en-US")} users, ${scenario.transactions.toLocaleString("en-US")} transactions`);
  const dataDir = tempDir(`pages-${scenario.name}`);
  const { seed } = await prepareDatabase(scenario, dataDir);
  const dbMb = round(fs.statSync(path.join(dataDir, "app.sqlite")).size / 1024 / 1024);
  console.log(`  database ${dbMb} MB${seed.seconds ? `, seeded in ${seed.seconds} s` : " (reused)"}`);
  const server = await startBenchServer({ ADMIN_EMAILS: SEED_ADMIN_EMAIL, RATE_LIMIT_DISABLED: "1", AUTH_RATE_LIMIT_DISABLED: "1" }, dataDir);
  const cookies = {
    typical: await logIn(server.url, seed.typical.email),
    heavy: await logIn(server.url, SEED_HEAVY_EMAIL),
    admin: await logIn(server.url, SEED_ADMIN_EMAIL),
  };
  const heavyOlder = await cursorFrom(`${server.url}/settings/billing`, cookies.heavy, "older");
  const adminAfter = await cursorFrom(`${server.url}/admin/credits?sort=credits&dir=desc`, cookies.admin, "after");
  // The narrow search matches the same 100 users (user0000000-user0000099) on both databases, so
  // the two pages show as many rows and only the database's size differs.
  const endpoints: Endpoint[] = [
    { name: "billing, typical user", who: "typical", path: "/settings/billing" },
    { name: "billing, heavy user", who: "heavy", path: "/settings/billing" },
    { name: "billing, heavy, page 2", who: "heavy", path: `/settings/billing?older=${heavyOlder}` },
    { name: "billing, heavy, purchases", who: "heavy", path: "/settings/billing?type=purchase" },
    { name: "admin users (newest)", who: "admin", path: "/admin/credits" },
    { name: "admin users by balance", who: "admin", path: "/admin/credits?sort=credits&dir=desc" },
    { name: "admin users by balance, p2", who: "admin", path: `/admin/credits?sort=credits&dir=desc&after=${adminAfter}` },
    { name: "admin users by email", who: "admin", path: "/admin/credits?sort=email&dir=asc" },
    { name: "admin search (narrow)", who: "admin", path: "/admin/credits?q=user00000" },
    { name: "admin search (broad), balance", who: "admin", path: "/admin/credits?q=user&sort=credits&dir=desc" },
    { name: "admin user page, heavy", who: "admin", path: "/admin/credits/2" },
    { name: "admin audit log", who: "admin", path: "/admin/credits/audit" },
    { name: "admin overview (30 days)", who: "admin", path: "/admin/credits/overview" },
    { name: "CSV, heavy user (whole)", who: "heavy", path: "/settings/billing/history.csv", requests: CSV_REQUESTS },
  ];
  return { scenario, dataDir, dbMb, seed, server, cookies, endpoints };
}

async function stopScenario(p: Prepared): Promise<void> {
  await p.server.stop();
  fs.rmSync(p.dataDir, { recursive: true, force: true });
}

type ScenarioReport = {
  users: number;
  transactions: number;
  dbMb: number;
  seedSeconds: number | null;
  typicalUser: SeedResult["typical"];
  endpoints: Record<string, Stats & { path: string }>;
};

/** Every scenario's server runs at once; each page is measured on all of them, interleaved. */
async function runScenarios(list: Scenario[]): Promise<Record<string, ScenarioReport>> {
  const prepared: Prepared[] = [];
  try {
    for (const scenario of list) prepared.push(await prepareScenario(scenario));
    const results = prepared.map(() => ({}) as Record<string, Stats & { path: string }>);
    console.log(`\n  ${"page".padEnd(32)} ${prepared.map((p) => `${p.scenario.name} p50`.padStart(11) + `${p.scenario.name} p99`.padStart(11) + "KB".padStart(7)).join("")}`);
    for (const [index, e] of prepared[0]!.endpoints.entries()) {
      const requests = e.requests ?? REQUESTS;
      const targets = prepared.map((p) => ({ url: `${p.server.url}${p.endpoints[index]!.path}`, cookie: p.cookies[e.who] }));
      const stats = await measurePaired(targets, requests, Math.max(1, Math.min(WARMUP, requests)));
      const cells: string[] = [];
      for (const [i, p] of prepared.entries()) {
        const s = stats[i]!;
        if (s.status !== 200) throw new Error(`${p.endpoints[index]!.path} answered ${s.status} (${p.scenario.name})`);
        results[i]![e.name] = { ...s, path: p.endpoints[index]!.path };
        cells.push(String(s.p50Ms).padStart(11) + String(s.p99Ms).padStart(11) + String(round(s.bytes / 1024)).padStart(7));
      }
      console.log(`  ${e.name.padEnd(32)} ${cells.join("")}`);
    }
    return Object.fromEntries(
      prepared.map((p, i) => [
        p.scenario.name,
        {
          users: p.scenario.users,
          transactions: p.scenario.transactions,
          dbMb: p.dbMb,
          seedSeconds: p.seed.seconds || null,
          typicalUser: p.seed.typical as SeedResult["typical"],
          endpoints: results[i]!,
        },
      ]),
    );
  } finally {
    for (const p of prepared) await stopScenario(p);
  }
}

const report: Record<string, unknown> = { requests: REQUESTS, warmup: WARMUP, concurrency: CONCURRENCY, interleaved: true };
Object.assign(report, await runScenarios(scenarios));
console.log(JSON.stringify(report));
