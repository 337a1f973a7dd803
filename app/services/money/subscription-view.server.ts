/**
 * What a page shows about a user's subscription: the subscription the customer.subscription.*
 * events last described, the last invoice that failed (and was not paid since), and the periods the
 * app has seen paid or failed. Read-only: rows are written by subscriptions.server.ts and
 * plan-invoices.server.ts, credits only by the ledger. See docs/decisions/023-subscriptions.md.
 *
 * All timestamps are milliseconds, like every other table.
 */
import type { Config } from "../env.server";
import { readerOf, type SqlTarget } from "../sql-target.server";

export type SubscriptionSummary = {
  id: string;
  /** The configured plan of the subscription's price (null: a price no longer in CREDIT_PLANS). */
  planId: string | null;
  planName: string | null;
  status: string;
  currentPeriodEnd: number | null;
  cancelAtPeriodEnd: boolean;
};

export type SubscriptionPeriodView = {
  invoiceId: string;
  subscriptionId: string;
  planId: string | null;
  planName: string | null;
  status: "paid" | "failed";
  periodStart: number;
  periodEnd: number;
  /** The ledger row of its credits (paid only). */
  txId: number | null;
  amountPaid: number | null;
  currency: string | null;
  createdAt: number;
  updatedAt: number;
};

export type SubscriptionView = {
  subscription: SubscriptionSummary | null;
  /** The newest invoice whose payment failed and that no paid invoice has followed. */
  lastFailedInvoice: { invoiceId: string; at: number } | null;
  /** Newest first, at most PERIODS_SHOWN. */
  periods: SubscriptionPeriodView[];
};

export const PERIODS_SHOWN = 24;

type SubRow = {
  id: string;
  planId: string | null;
  status: string;
  currentPeriodEnd: number | null;
  cancelAtPeriodEnd: number;
};
type PeriodRow = Omit<SubscriptionPeriodView, "planName">;

const SQL = {
  // The one that matters to the user: a live one (active, past_due, trialing...) before any
  // ended one, then the newest.
  subscription: `SELECT id, plan_id AS "planId", status, current_period_end AS "currentPeriodEnd",
       cancel_at_period_end AS "cancelAtPeriodEnd"
     FROM subscriptions WHERE user_id = ?
     ORDER BY CASE WHEN status IN ('canceled', 'incomplete_expired') THEN 1 ELSE 0 END ASC, created_at DESC, id DESC LIMIT 1`,
  periods: `SELECT invoice_id AS "invoiceId", subscription_id AS "subscriptionId", plan_id AS "planId", status,
       period_start AS "periodStart", period_end AS "periodEnd", tx_id AS "txId", amount_paid AS "amountPaid",
       currency, created_at AS "createdAt", updated_at AS "updatedAt"
     FROM subscription_periods WHERE user_id = ?
     ORDER BY period_start DESC, created_at DESC, invoice_id DESC LIMIT ?`,
  lastFailed: `SELECT f.invoice_id AS "invoiceId", f.updated_at AS at FROM subscription_periods f
     WHERE f.user_id = ? AND f.status = 'failed'
       AND NOT EXISTS (SELECT 1 FROM subscription_periods p WHERE p.user_id = ? AND p.status = 'paid'
                       AND p.subscription_id = f.subscription_id AND p.period_start >= f.period_start)
     ORDER BY f.updated_at DESC, f.invoice_id DESC LIMIT 1`,
} as const;

/** The subscription section of a user's billing page (committed rows, or a body's `tx`). */
export async function getSubscriptionView(db: SqlTarget, config: Pick<Config, "plans">, userId: number): Promise<SubscriptionView> {
  const q = readerOf(db);
  const planName = (planId: string | null) => (planId ? (config.plans.find((p) => p.id === planId)?.name ?? null) : null);
  // Three reads; on PostgreSQL each sees its own snapshot, which a page can live with (a period
  // that lands between them shows on the next view).
  const sub = await q.get<SubRow>(SQL.subscription, [userId]);
  const lastFailed = await q.get<{ invoiceId: string; at: number }>(SQL.lastFailed, [userId, userId]);
  const periods = await q.all<PeriodRow>(SQL.periods, [userId, PERIODS_SHOWN]);
  return {
    subscription: sub
      ? {
          id: sub.id,
          planId: sub.planId,
          planName: planName(sub.planId),
          status: sub.status,
          currentPeriodEnd: sub.currentPeriodEnd,
          cancelAtPeriodEnd: Number(sub.cancelAtPeriodEnd) === 1,
        }
      : null,
    lastFailedInvoice: lastFailed ?? null,
    periods: periods.map((p) => ({ ...p, planName: planName(p.planId) })),
  };
}
