/**
 * The admin overview: credits sold, spent, given, taken back and adjusted per UTC day, money
 * taken per currency, and the figures of now (on hold, users, outstanding balances). Read-only.
 */
import type Database from "better-sqlite3";
import type { AppDb } from "#db/client.server";
import { perConnection } from "#db/prepared.server";
import type { TransactionType } from "#db/schema";
import { DAY_MS } from "~/utils/time";

type DayFigures = { day: number; type: TransactionType; status: string; total: number; revenue: number; currency: string | null };

const stmts = perConnection((sqlite) => ({
  // The last N days, one range of the created_at index. Revenue is read from the purchase's
  // meta (amountTotal in the currency's minor unit, as Stripe reported it at checkout).
  overviewDays: sqlite.prepare<[number, number], DayFigures>(
    `SELECT created_at / ${DAY_MS} AS day, type, status, sum(amount) AS total,
       sum(CASE WHEN type = 'purchase' THEN coalesce(json_extract(meta, '$.amountTotal'), 0) ELSE 0 END) AS revenue,
       CASE WHEN type = 'purchase' THEN lower(json_extract(meta, '$.currency')) END AS currency
     FROM transactions WHERE created_at >= ? AND created_at < ?
     GROUP BY day, type, status, currency`,
  ),
  onHold: sqlite.prepare<[], { credits: number; holds: number }>(
    `SELECT coalesce(sum(-amount), 0) AS credits, count(*) AS holds FROM transactions WHERE status = 'pending'`,
  ),
  balances: sqlite.prepare<[], { users: number; outstanding: number }>(
    `SELECT count(*) AS users, coalesce(sum(credits), 0) AS outstanding FROM users`,
  ),
}));

export type OverviewDay = {
  day: string;
  /** Credits bought (purchases and top-ups). */
  sold: number;
  /** Credits spent: posted usage. */
  spent: number;
  /** Credits given: bonuses (sign-up, promotions, admin grants). */
  given: number;
  /** Credits taken back after refunds and disputes. */
  clawedBack: number;
  /** Net manual adjustments. */
  adjusted: number;
  /** Money taken per currency, in minor units. */
  revenue: Record<string, number>;
};

export type Overview = {
  days: OverviewDay[];
  totals: Omit<OverviewDay, "day">;
  onHold: { credits: number; holds: number };
  users: number;
  /** Sum of every spendable balance: credits sold or given and not spent yet. */
  outstanding: number;
};

/** Days older than this many are closed: every hold of theirs is settled (holds time out within a
 * day, GENERATION_HOLD_TTL_SECONDS ≤ 86,400) and new rows are dated today, so their figures no
 * longer change. Their figures are kept in memory for a while; the recent days are always read. */
const LIVE_DAYS = 3;
const CLOSED_DAYS_TTL_MS = 10 * 60_000;
const closedDays = new WeakMap<Database.Database, Map<number, { at: number; rows: DayFigures[] }>>();

/** Figures per day for [firstDay, lastDay]: closed days from the cache (read in one range when
 * missing or stale), the live ones from the database every time. One range of created_at each. */
function dayFigures(db: AppDb, firstDay: number, today: number, now: number): DayFigures[] {
  let cache = closedDays.get(db.sqlite);
  if (!cache) closedDays.set(db.sqlite, (cache = new Map()));
  const firstLive = Math.max(firstDay, today - LIVE_DAYS + 1);
  let firstMissing: number | null = null;
  for (let d = firstDay; d < firstLive; d++) {
    const hit = cache.get(d);
    if (!hit || now - hit.at > CLOSED_DAYS_TTL_MS) {
      firstMissing = d;
      break;
    }
  }
  if (firstMissing !== null) {
    const fresh = new Map<number, DayFigures[]>();
    for (let d = firstMissing; d < firstLive; d++) fresh.set(d, []);
    for (const r of stmts(db).overviewDays.all(firstMissing * DAY_MS, firstLive * DAY_MS)) fresh.get(r.day)?.push(r);
    for (const [d, rows] of fresh) cache.set(d, { at: now, rows });
    for (const d of cache.keys()) if (d < firstDay - 30) cache.delete(d);
  }
  const rows: DayFigures[] = [];
  for (let d = firstDay; d < firstLive; d++) rows.push(...cache.get(d)!.rows);
  rows.push(...stmts(db).overviewDays.all(firstLive * DAY_MS, (today + 1) * DAY_MS));
  return rows;
}

/** The last `days` UTC days (today included), plus the figures of now. */
export function getOverview(db: AppDb, opts: { days?: number; now?: number } = {}): Overview {
  const days = opts.days ?? 30;
  const now = opts.now ?? Date.now();
  const today = Math.floor(now / DAY_MS);
  const firstDay = today - days + 1;
  const blank = (): Omit<OverviewDay, "day"> => ({ sold: 0, spent: 0, given: 0, clawedBack: 0, adjusted: 0, revenue: {} });
  const series = new Map<number, OverviewDay>();
  for (let d = firstDay; d <= today; d++) series.set(d, { day: new Date(d * DAY_MS).toISOString().slice(0, 10), ...blank() });
  const totals = blank();
  const read = db.sqlite.transaction(() => ({
    rows: dayFigures(db, firstDay, today, now),
    onHold: stmts(db).onHold.get()!,
    balances: stmts(db).balances.get()!,
  }));
  const { rows, onHold, balances } = read.deferred();
  for (const r of rows) {
    const point = series.get(r.day);
    if (!point) continue;
    for (const target of [point, totals]) {
      switch (r.type) {
        case "purchase":
        case "topup":
        case "plan":
          target.sold += r.total;
          if (r.currency && r.revenue) target.revenue[r.currency] = (target.revenue[r.currency] ?? 0) + r.revenue;
          break;
        case "usage":
          if (r.status === "posted") target.spent += -r.total;
          break;
        case "bonus":
        case "redeem":
          target.given += r.total;
          break;
        case "refund":
          target.clawedBack += -r.total;
          break;
        case "adjustment":
          target.adjusted += r.total;
          break;
      }
    }
  }
  return { days: [...series.values()], totals, onHold, users: balances.users, outstanding: balances.outstanding };
}
