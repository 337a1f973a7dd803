// `npm run bench`: every benchmark, each in its own process, then one table and a JSON report
// (bench-results/report.json). The last line printed is that JSON report.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { ROOT } from "./support";

type Part = { name: string; script: string; env?: Record<string, string> };

const parts: Part[] = [
  { name: "ledger", script: "scripts/bench/ledger.ts" },
  { name: "ledgerPg", script: "scripts/bench/ledger-pg.ts" },
  { name: "http", script: "scripts/bench/http.ts" },
  { name: "httpPg", script: "scripts/bench/http.ts", env: { BENCH_HTTP_ON: "postgres" } },
  { name: "pages", script: "scripts/bench/pages.ts" },
  { name: "csv", script: "scripts/bench/csv.ts" },
];

function lastJsonLine(output: string): unknown {
  const lines = output.trim().split("\n").reverse();
  for (const line of lines) {
    const t = line.trim();
    if (t.startsWith("{") && t.endsWith("}")) return JSON.parse(t);
  }
  return null;
}

if (!fs.existsSync(path.join(ROOT, "build/index.js")) || process.env.BENCH_REBUILD === "1") {
  console.log("== building the app");
  const build = spawnSync("npm", ["run", "-s", "build"], { cwd: ROOT, stdio: "inherit" });
  if (build.status !== 0) process.exit(1);
}

const report: Record<string, unknown> = { machine: { cores: (await import("node:os")).cpus().length, node: process.version }, at: new Date().toISOString() };
let failed = false;
for (const part of parts) {
  if (!fs.existsSync(path.join(ROOT, part.script))) {
    console.log(`== ${part.name}: ${part.script} missing, skipped`);
    report[part.name] = { error: "missing" };
    failed = true;
    continue;
  }
  console.log(`\n== ${part.name} (${part.script})`);
  const started = Date.now();
  const run = spawnSync(process.execPath, ["--import", "tsx", part.script], {
    cwd: ROOT,
    env: { ...process.env, ...part.env },
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
  process.stdout.write(run.stdout);
  process.stderr.write(run.stderr);
  const json = lastJsonLine(run.stdout);
  if (run.status !== 0 || !json) failed = true;
  report[part.name] = json ?? { error: `exit ${run.status}` };
  console.log(`   (${Math.round((Date.now() - started) / 1000)} s)`);
}

// The headline figures, against their targets.
/** A figure from the report by its dotted path, or "n/a" where a part failed. */
function fig(dotted: string): string {
  let value: unknown = report;
  for (const key of dotted.split(".")) value = value && typeof value === "object" ? (value as Record<string, unknown>)[key] : undefined;
  return value === undefined || value === null ? "n/a" : String(value);
}
const rows: Array<[string, string, string]> = [
  ["ledger hold+post pairs/s (module vs raw)", `${fig("ledger.opsPerSec")} vs ${fig("ledger.baselineOpsPerSec")}`, `ratio ${fig("ledger.ratio")} (target ≥ 0.8)`],
  ["ledger hold+post pairs/s, 64 callers (module vs raw, one caller)", `${fig("ledger.concurrentOpsPerSec")} vs ${fig("ledger.baselineOpsPerSec")}`, `ratio ${fig("ledger.concurrentRatio")} (target ≥ 4)`],
  ["ledger grants/s", `${fig("ledger.grantsPerSec")}`, ""],
  ["PostgreSQL: ledger hold+post pairs/s (module vs raw pg)", `${fig("ledgerPg.opsPerSec")} vs ${fig("ledgerPg.baselineOpsPerSec")}`, `ratio ${fig("ledgerPg.ratio")} (target ≥ 0.8)`],
  [
    `PostgreSQL: the same, ${fig("ledgerPg.concurrentCallers")} callers on each side`,
    `${fig("ledgerPg.concurrentOpsPerSec")} vs ${fig("ledgerPg.concurrentBaselineOpsPerSec")}`,
    `ratio ${fig("ledgerPg.concurrentRatio")}`,
  ],
  [
    "POST /api/generate-image req/s (app vs bare node:http)",
    `${fig("http.generateImage.app.requestsPerSec")} vs ${fig("http.generateImage.baseline.requestsPerSec")}`,
    `ratio ${fig("http.generateImage.ratio")} (target ≥ 0.6)`,
  ],
  ["  app p50 / p99 ms", `${fig("http.generateImage.app.p50Ms")} / ${fig("http.generateImage.app.p99Ms")}`, ""],
  ["signed webhook deliveries/s", `${fig("http.webhooks.requestsPerSec")}`, "target ≥ 2000"],
  ["PostgreSQL: POST /api/generate-image req/s, p50 / p99 ms", `${fig("httpPg.generateImage.app.requestsPerSec")}, ${fig("httpPg.generateImage.app.p50Ms")} / ${fig("httpPg.generateImage.app.p99Ms")}`, ""],
  ["PostgreSQL: signed webhook deliveries/s", `${fig("httpPg.webhooks.requestsPerSec")}`, ""],
  ["peak RSS under load (MB)", `${fig("http.peakRssMb")}`, "target ≤ 200"],
  ["start-up to first /healthz 200 (ms)", `${fig("http.startupMs")}`, "target ≤ 500"],
  ["CSV export rows/s, 45k-row history; peak RSS growth 45k vs 450k rows (MB)", `${fig("csv.rowsPerSec")}; +${fig("csv.peakGrowthMb")} vs +${fig("csv.largePeakGrowthMb")}`, "target ≥ 200000, growth flat"],
  // Every page but the CSV (a whole history, which grows with it by design: its own row above).
  ...Object.keys((report.pages as { small?: { endpoints?: Record<string, unknown> } } | undefined)?.small?.endpoints ?? {})
    .filter((page) => !page.startsWith("CSV"))
    .map((page): [string, string, string] => {
      const small = Number(fig(`pages.small.endpoints.${page}.p99Ms`));
      const large = Number(fig(`pages.large.endpoints.${page}.p99Ms`));
      return [`${page}: p99 ms, small vs 100k users / 1M rows`, `${small} vs ${large}`, `ratio ${Math.round((large / small) * 100) / 100} (target ≤ 1.2)`];
    }),
];
console.log("\n| figure | measured | target |\n| --- | --- | --- |");
for (const [a, b, c] of rows) console.log(`| ${a} | ${b} | ${c} |`);

fs.mkdirSync(path.join(ROOT, "bench-results"), { recursive: true });
fs.writeFileSync(path.join(ROOT, "bench-results/report.json"), JSON.stringify(report, null, 2));
console.log(JSON.stringify(report));
process.exit(failed ? 1 : 0);
