/**
 * The admin overview: credits sold, spent, given, taken back and adjusted per UTC day, money
 * taken per currency, and the figures of now (on hold, users, outstanding balances). Read-only.
 * Every figure comes from a table kept by database triggers (daily_totals, user_totals) or from
 * the pending holds alone, so the page reads the same few hundred rows whatever the history's
 * length (docs/decisions/037-daily-totals.md).
 */
import type { AppDb } from "#db/client.server";
import { perConnection } from "#db/prepared.server";
import type { TransactionType } from "#db/schema";
import { DAY_MS } from "~/utils/time";

type DayFigures = { day: number; type: TransactionType; status: string; total: number; revenue: number; currency: string };

const stmts = perConnection((sqlite) => ({
  // One range of daily_totals' primary key (day first), shards summed. Revenue is the purchases'
  // meta.amountTotal (the currency's minor unit, as Stripe reported it at checkout).
  overviewDays: sqlite.prepare<[number, number], DayFigures>(
    `SELECT day, type, status, currency, sum(credits) AS total, sum(revenue_minor) AS revenue
     FROM daily_totals WHERE day >= ? AND day <= ?
     GROUP BY day, type, status, currency`,
  ),
  // Pending rows only (a partial, covering index): as many as holds in flight, not history.
  onHold: sqlite.prepare<[], { credits: number; holds: number }>(
    `SELECT coalesce(sum(-amount), 0) AS credits, count(*) AS holds FROM transactions WHERE status = 'pending'`,
  ),
  balances: sqlite.prepare<[], { users: number; outstanding: number }>(
    `SELECT coalesce(sum(users), 0) AS users, coalesce(sum(credits), 0) AS outstanding FROM user_totals`,
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
    rows: stmts(db).overviewDays.all(firstDay, today),
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
