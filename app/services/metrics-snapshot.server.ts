/**
 * What /metrics serves: the in-process counters (requests, webhooks, generations, ledger writes,
 * refusals, backups; they restart at zero with the process, which Prometheus' rate() handles) plus
 * gauges read from the database at scrape time, which survive restarts: ledger rows by type and
 * status, balances, holds, recorded Stripe events and generation jobs. Read through the executor
 * (both engines): the scalar figures come from one statement, so they agree with each other; the
 * per-type breakdowns are a statement each (a row committed in between may show in one only).
 */
import crypto from "node:crypto";
import type { PortableDb } from "../../db/client.server";
import type { Config } from "./env.server";
import { limiterStoreStatus } from "./limiter-store.server";
import { renderMetrics } from "./metrics.server";

type Gauge = { name: string; help: string; value: number; labels?: Record<string, string | number> };

const GAUGES_SQL = {
  scalars: `SELECT
     (SELECT count(*) FROM users) AS users,
     (SELECT coalesce(sum(credits), 0) FROM users) AS credits,
     (SELECT count(*) FROM stripe_events) AS "stripeEvents",
     (SELECT count(*) FROM stripe_events WHERE processed_at IS NULL) AS "stripeUnprocessed"`,
  ledger: `SELECT type, status, count(*) AS n, sum(amount) AS total FROM transactions GROUP BY type, status ORDER BY type, status`,
  generations: `SELECT kind, status, count(*) AS n FROM generations GROUP BY kind, status ORDER BY kind, status`,
  // The size of the database file (SQLite) or of the database (PostgreSQL): engine-bound, one each.
  sqliteBytes: `SELECT p.page_size * c.page_count AS n FROM pragma_page_size() p, pragma_page_count() c`,
  postgresBytes: `SELECT pg_database_size(current_database()) AS n`,
};

export async function collectDatabaseGauges(db: PortableDb): Promise<Gauge[]> {
  const sqlite = db.sql.dialect === "sqlite";
  const [scalars, ledger, generations, size] = await Promise.all([
    db.sql.get<{ users: number; credits: number; stripeEvents: number; stripeUnprocessed: number }>(GAUGES_SQL.scalars),
    db.sql.all<{ type: string; status: string; n: number; total: number }>(GAUGES_SQL.ledger),
    db.sql.all<{ kind: string; status: string; n: number }>(GAUGES_SQL.generations),
    db.sql.get<{ n: number }>(sqlite ? GAUGES_SQL.sqliteBytes : GAUGES_SQL.postgresBytes),
  ]);
  const gauges: Gauge[] = [];
  gauges.push({ name: "users", help: "Accounts in the database", value: scalars!.users });
  gauges.push({ name: "ledger_balance_credits", help: "Sum of every spendable balance (users.credits)", value: scalars!.credits });
  for (const row of ledger) {
    gauges.push({ name: "ledger_rows", help: "Ledger rows by type and status", value: row.n, labels: { type: row.type, status: row.status } });
    gauges.push({
      name: "ledger_amount_credits",
      help: "Sum of ledger amounts by type and status",
      value: row.total,
      labels: { type: row.type, status: row.status },
    });
  }
  gauges.push({ name: "stripe_events_recorded", help: "Stripe events recorded by the webhook", value: scalars!.stripeEvents });
  gauges.push({ name: "stripe_events_unprocessed", help: "Recorded Stripe events not processed yet (or failed)", value: scalars!.stripeUnprocessed });
  for (const row of generations) {
    gauges.push({ name: "generation_jobs", help: "Generation jobs by kind and status", value: row.n, labels: { kind: row.kind, status: row.status } });
  }
  if (sqlite) gauges.push({ name: "sqlite_database_bytes", help: "Size of the SQLite database (pages × page size)", value: size?.n ?? 0 });
  else gauges.push({ name: "postgres_database_bytes", help: "Size of the PostgreSQL database (pg_database_size)", value: size?.n ?? 0 });
  return gauges;
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

export async function renderMetricsPage(db: PortableDb, startedAt: number): Promise<string> {
  return renderMetrics([...(await collectDatabaseGauges(db)), ...collectProcessGauges(startedAt)]);
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
