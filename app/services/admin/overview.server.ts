/**
 * The admin overview: credits sold, spent, given, taken back and adjusted per UTC day, money
 * taken per currency, and the figures of now (on hold, users, outstanding balances). Read-only.
 * Every figure comes from a table kept by database triggers (daily_totals, user_totals) or from
 * the pending holds alone, so the page reads the same few hundred rows whatever the history's
 * length (docs/decisions/037-daily-totals.md).
 */
import type { PortableDb } from "#db/client.server";
import type { TransactionType } from "#db/schema";
import { DAY_MS } from "~/utils/time";

type DayFigures = { day: number; type: TransactionType; status: string; total: number; revenue: number; currency: string };

const OVERVIEW_SQL = {
  // One range of daily_totals' primary key (day first), shards summed. Revenue is the purchases'
  // meta.amountTotal (the currency's minor unit, as Stripe reported it at checkout).
  days: `SELECT day, type, status, currency, sum(credits) AS total, sum(revenue_minor) AS revenue
     FROM daily_totals WHERE day >= ? AND day <= ?
     GROUP BY day, type, status, currency`,
  // Pending rows only (a partial, covering index): as many as holds in flight, not history; and
  // the outstanding balances, in the same statement so both come from one snapshot on both engines.
  now: `SELECT
     (SELECT coalesce(sum(-amount), 0) FROM transactions WHERE status = 'pending') AS "onHoldCredits",
     (SELECT count(*) FROM transactions WHERE status = 'pending') AS "onHoldHolds",
     (SELECT coalesce(sum(users), 0) FROM user_totals) AS users,
     (SELECT coalesce(sum(credits), 0) FROM user_totals) AS outstanding`,
};

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
export async function getOverview(db: PortableDb, opts: { days?: number; now?: number } = {}): Promise<Overview> {
  const days = opts.days ?? 30;
  const now = opts.now ?? Date.now();
  const today = Math.floor(now / DAY_MS);
  const firstDay = today - days + 1;
  const blank = (): Omit<OverviewDay, "day"> => ({ sold: 0, spent: 0, given: 0, clawedBack: 0, adjusted: 0, revenue: {} });
  const series = new Map<number, OverviewDay>();
  for (let d = firstDay; d <= today; d++) series.set(d, { day: new Date(d * DAY_MS).toISOString().slice(0, 10), ...blank() });
  const totals = blank();
  // The days and the figures of now are two statements: a row committed between them may show in
  // one only (the old read shared a snapshot; these are separate figures on the page).
  const [rows, figures] = await Promise.all([
    db.sql.all<DayFigures>(OVERVIEW_SQL.days, [firstDay, today]),
    db.sql.get<{ onHoldCredits: number; onHoldHolds: number; users: number; outstanding: number }>(OVERVIEW_SQL.now),
  ]);
  const onHold = { credits: figures!.onHoldCredits, holds: figures!.onHoldHolds };
  const balances = { users: figures!.users, outstanding: figures!.outstanding };
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
