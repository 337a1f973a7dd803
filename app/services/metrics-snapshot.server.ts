/**
 * What /metrics serves: the in-process counters (requests, webhooks, generations, ledger writes,
 * refusals, backups; they restart at zero with the process, which Prometheus' rate() handles) plus
 * gauges read from the database at scrape time, which survive restarts: ledger rows by type and
 * status, balances, holds, recorded Stripe events and generation jobs. One read transaction, so
 * the numbers agree with each other.
 */
import crypto from "node:crypto";
import type { AppDb } from "../../db/client.server";
import type { Config } from "./env.server";
import { limiterStoreStatus } from "./limiter-store.server";
import { renderMetrics } from "./metrics.server";

type Gauge = { name: string; help: string; value: number; labels?: Record<string, string | number> };

export function collectDatabaseGauges(db: AppDb): Gauge[] {
  const { sqlite } = db;
  return sqlite.transaction((): Gauge[] => {
    const gauges: Gauge[] = [];
    const one = (sql: string) => (sqlite.prepare(sql).get() as { n: number | null }).n ?? 0;
    gauges.push({ name: "users", help: "Accounts in the database", value: one("SELECT count(*) AS n FROM users") });
    gauges.push({
      name: "ledger_balance_credits",
      help: "Sum of every spendable balance (users.credits)",
      value: one("SELECT sum(credits) AS n FROM users"),
    });
    for (const row of sqlite
      .prepare("SELECT type, status, count(*) AS n, sum(amount) AS total FROM transactions GROUP BY type, status")
      .all() as Array<{ type: string; status: string; n: number; total: number }>) {
      gauges.push({ name: "ledger_rows", help: "Ledger rows by type and status", value: row.n, labels: { type: row.type, status: row.status } });
      gauges.push({
        name: "ledger_amount_credits",
        help: "Sum of ledger amounts by type and status",
        value: row.total,
        labels: { type: row.type, status: row.status },
      });
    }
    gauges.push({
      name: "stripe_events_recorded",
      help: "Stripe events recorded by the webhook",
      value: one("SELECT count(*) AS n FROM stripe_events"),
    });
    gauges.push({
      name: "stripe_events_unprocessed",
      help: "Recorded Stripe events not processed yet (or failed)",
      value: one("SELECT count(*) AS n FROM stripe_events WHERE processed_at IS NULL"),
    });
    for (const row of sqlite.prepare("SELECT kind, status, count(*) AS n FROM generations GROUP BY kind, status").all() as Array<{
      kind: string;
      status: string;
      n: number;
    }>) {
      gauges.push({ name: "generation_jobs", help: "Generation jobs by kind and status", value: row.n, labels: { kind: row.kind, status: row.status } });
    }
    const pageSize = sqlite.pragma("page_size", { simple: true }) as number;
    const pageCount = sqlite.pragma("page_count", { simple: true }) as number;
    gauges.push({ name: "sqlite_database_bytes", help: "Size of the SQLite database (pages × page size)", value: pageSize * pageCount });
    return gauges;
  })();
}

export function collectProcessGauges(startedAt: number): Gauge[] {
  return [
    { name: "process_uptime_seconds", help: "Seconds since the runtime started", value: Math.round((Date.now() - startedAt) / 1000) },
    { name: "process_resident_memory_bytes", help: "Resident memory of the Node process", value: process.memoryUsage().rss },
    // 1 for the store the limits are counted in right now (decision 033): alert on redis-unreachable.
    ...(["memory", "redis", "redis-unreachable"] as const).map((store) => ({
      name: "rate_limit_store",
      help: "Where the rate limits are counted: memory (one instance), redis (shared), redis-unreachable (per instance until Redis answers)",
      value: limiterStoreStatus() === store ? 1 : 0,
      labels: { store },
    })),
  ];
}

export function renderMetricsPage(db: AppDb, startedAt: number): string {
  return renderMetrics([...collectDatabaseGauges(db), ...collectProcessGauges(startedAt)]);
}

/** `Authorization: Bearer <METRICS_TOKEN>`, compared in constant time. False when no token is configured. */
export function hasMetricsToken(authorization: string | null, config: Config): boolean {
  const expected = config.METRICS_TOKEN;
  if (!expected || !authorization) return false;
  const match = /^Bearer\s+(.+)$/i.exec(authorization.trim());
  if (!match) return false;
  const a = crypto.createHash("sha256").update(match[1]!).digest();
  const b = crypto.createHash("sha256").update(expected).digest();
  return crypto.timingSafeEqual(a, b);
}
