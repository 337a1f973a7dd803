// The history CSV export (GET /settings/billing/history.csv): rows per second, and whether the
// server's memory grows with the length of the history. One user's history of 45,000 rows (the
// figure) and of 450,000 (the memory check), each seeded by scripts/seed-large.ts into a fresh
// database and served by the BUILT app (`node server.js`) on loopback. Each export is downloaded a
// few times, one after another, by a plain node:http client that only counts bytes; rows/s is the
// rows over the median full-response time. Memory: the server's peak RSS (VmHWM) after the
// downloads, minus its RSS just before them. Last line: JSON with every figure.
//
//   npm run build && npx tsx scripts/bench/csv.ts
//
// BENCH_CSV_REQUESTS (15 for the 45,000-row history; the 450,000-row one is downloaded 3 times),
// BENCH_CSV_ROWS (45000), BENCH_CSV_LARGE_ROWS (450000). Decision: docs/decisions/038-csv-export.md.
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { closeDatabase, openMigratedDatabase } from "../../db/client.server";
import { SEED_HEAVY_EMAIL, SEED_PASSWORD, seedLarge } from "../seed-large";
import { median, peakRssMb, round, startBenchServer, tempDir } from "./support";

const REQUESTS = Math.max(1, Number(process.env.BENCH_CSV_REQUESTS ?? 15));
const ROWS = Number(process.env.BENCH_CSV_ROWS ?? 45_000);
const LARGE_ROWS = Number(process.env.BENCH_CSV_LARGE_ROWS ?? 450_000);
/** The share of the seeded activity that is the exporting user's (heavy@bench.test). */
const HEAVY_SHARE = 0.99;
const OTHER_USERS = 20;

type Run = { rows: number; bytes: number; requests: number; medianMs: number; minMs: number; rowsPerSec: number; rssBeforeMb: number; peakRssMb: number; peakGrowthMb: number };

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

/** One whole download: status, bytes, lines and the time to the last byte. */
function download(url: string, cookie: string): Promise<{ ms: number; bytes: number; lines: number }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    http
      .get(`${url}/settings/billing/history.csv`, { headers: { Cookie: cookie } }, (res) => {
        if (res.statusCode !== 200) return reject(new Error(`history.csv answered ${res.statusCode}`));
        let bytes = 0;
        let lines = 0;
        res.on("data", (chunk: Buffer) => {
          bytes += chunk.length;
          for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines++;
        });
        res.on("end", () => resolve({ ms: performance.now() - started, bytes, lines }));
        res.on("error", reject);
      })
      .on("error", reject);
  });
}

function rssMb(pid: number): number {
  const kb = Number(/VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))?.[1]);
  return round(kb / 1024);
}

async function measure(targetRows: number, requests: number): Promise<Run> {
  const dataDir = tempDir(`csv-${targetRows}`);
  try {
    const db = openMigratedDatabase(path.join(dataDir, "app.sqlite"));
    let seeded;
    try {
      const transactions = Math.ceil((targetRows - 1) / HEAVY_SHARE) + OTHER_USERS;
      // Not verified: seed-large writes no credit grants, so the verifier's grant check fails on
      // any seeded file; the export reads the rows as they are either way.
      seeded = await seedLarge(db, { users: OTHER_USERS, transactions, heavyShare: HEAVY_SHARE, verify: false });
    } finally {
      closeDatabase(db);
    }
    const rows = seeded.heavy.rows;
    const server = await startBenchServer({ RATE_LIMIT_DISABLED: "1", AUTH_RATE_LIMIT_DISABLED: "1" }, dataDir);
    try {
      // Warm the route up on a short history, so the first timed download is not the one that compiles it.
      const typical = await logIn(server.url, seeded.typical.email);
      for (let i = 0; i < 3; i++) await download(server.url, typical);
      const cookie = await logIn(server.url, SEED_HEAVY_EMAIL);
      const rssBeforeMb = rssMb(server.pid);
      const times: number[] = [];
      let bytes = 0;
      for (let i = 0; i < requests; i++) {
        const r = await download(server.url, cookie);
        if (r.lines !== rows + 1) throw new Error(`the export had ${r.lines} lines, expected ${rows + 1}`);
        times.push(r.ms);
        bytes = r.bytes;
      }
      const peak = peakRssMb(server.pid) ?? Number.NaN;
      const medianMs = median(times);
      const run: Run = {
        rows,
        bytes,
        requests,
        medianMs: round(medianMs, 1),
        minMs: round(Math.min(...times), 1),
        rowsPerSec: Math.round(rows / (medianMs / 1000)),
        rssBeforeMb,
        peakRssMb: peak,
        peakGrowthMb: round(peak - rssBeforeMb),
      };
      console.log(
        `  ${rows.toLocaleString("en-US").padStart(9)} rows (${round(bytes / 1024 / 1024)} MB): median ${run.medianMs} ms → ${run.rowsPerSec.toLocaleString("en-US")} rows/s; ` +
          `RSS ${rssBeforeMb} MB before, peak ${peak} MB (+${run.peakGrowthMb} MB)`,
      );
      return run;
    } finally {
      await server.stop();
    }
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

const typical = await measure(ROWS, REQUESTS);
const large = await measure(LARGE_ROWS, Math.min(REQUESTS, 3));
const report = {
  rows: typical.rows,
  rowsPerSec: typical.rowsPerSec,
  medianMs: typical.medianMs,
  peakGrowthMb: typical.peakGrowthMb,
  largeRows: large.rows,
  largeRowsPerSec: large.rowsPerSec,
  largePeakGrowthMb: large.peakGrowthMb,
  runs: { typical, large },
};
console.log(JSON.stringify(report));
