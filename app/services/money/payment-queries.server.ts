/**
 * Reads about payments that several pages and services need, written once: what a purchase was
 * paid, what has been taken back from it, and whether it can still be refunded. The ledger's rows
 * are the only source: a `refund` row (negative) carries the payment id of the purchase it takes
 * from, so "credits taken back" is the sum of those rows, whatever took them (refund or dispute).
 *
 * On the executor (decision 036): the `read…` functions, one SQL text for SQLite and PostgreSQL,
 * on a write body's `tx` (its own rows) or the database (committed rows). The synchronous ones
 * below them are seams for modules their owners are still porting (clawbacks, disputes, admin
 * refunds, the billing dashboard) and go when those switch to the `read…` functions.
 */
import type { AppDb } from "#db/client.server";
import { perConnection } from "#db/prepared.server";
import { parseJsonObject } from "~/utils/json";
import { readerOf, type SqlTarget } from "../sql-target.server";
import { grantLeftOf, readGrantLeft, type Tx } from "./ledger.server";

export type PurchaseWithRefunds = Pick<Tx, "id" | "createdAt" | "amount" | "description" | "meta"> & {
  /** Credits already taken back for this purchase's payment. */
  takenBack: number;
};

const stmts = perConnection((sqlite) => ({
  takenBack: sqlite.prepare<[string], { credits: number }>(
    `SELECT coalesce(-sum(amount), 0) AS credits FROM transactions WHERE stripe_payment_id = ? AND type = 'refund'`,
  ),
  takenBackMany: sqlite.prepare<[string], { paymentId: string; credits: number }>(
    `SELECT stripe_payment_id AS paymentId, coalesce(-sum(amount), 0) AS credits FROM transactions
     WHERE stripe_payment_id IN (SELECT value FROM json_each(?)) AND type = 'refund'
     GROUP BY stripe_payment_id`,
  ),
  purchasesOf: sqlite.prepare<[number, number], PurchaseWithRefunds>(
    `SELECT t.id AS id, t.created_at AS createdAt, t.amount AS amount, t.description AS description, t.meta AS meta,
       coalesce((SELECT -sum(r.amount) FROM transactions r
                 WHERE r.stripe_payment_id = t.stripe_payment_id AND r.type = 'refund'), 0) AS takenBack
     FROM transactions t
     WHERE t.user_id = ? AND t.type IN ('purchase', 'topup') AND t.stripe_payment_id IS NOT NULL
     ORDER BY t.id DESC LIMIT ?`,
  ),
}));

const SQL = {
  takenBack: `SELECT coalesce(-sum(amount), 0) AS credits FROM transactions WHERE stripe_payment_id = ? AND type = 'refund'`,
  takenBackMany: (n: number) => `SELECT stripe_payment_id AS "paymentId", coalesce(-sum(amount), 0) AS credits FROM transactions
     WHERE stripe_payment_id IN (${Array.from({ length: n }, () => "?").join(", ")}) AND type = 'refund'
     GROUP BY stripe_payment_id`,
  purchasesOf: `SELECT t.id AS id, t.created_at AS "createdAt", t.amount AS amount, t.description AS description, t.meta AS meta,
       coalesce((SELECT -sum(r.amount) FROM transactions r
                 WHERE r.stripe_payment_id = t.stripe_payment_id AND r.type = 'refund'), 0) AS "takenBack"
     FROM transactions t
     WHERE t.user_id = ? AND t.type IN ('purchase', 'topup') AND t.stripe_payment_id IS NOT NULL
     ORDER BY t.id DESC LIMIT ?`,
} as const;

/** At most this many payment ids per statement (one placeholder each; SQLite allows 32766). */
const IDS_PER_STATEMENT = 500;

/** Credits already taken back (by refunds and disputes) for one payment. */
export async function readCreditsTakenBack(target: SqlTarget, paymentIntentId: string): Promise<number> {
  return (await readerOf(target).get<{ credits: number }>(SQL.takenBack, [paymentIntentId]))?.credits ?? 0;
}

/** The same for many payments at once (one page of history); payments with none are absent. */
export async function readCreditsTakenBackByPayment(target: SqlTarget, paymentIntentIds: readonly string[]): Promise<Map<string, number>> {
  const ids = [...new Set(paymentIntentIds)];
  const out = new Map<string, number>();
  for (let i = 0; i < ids.length; i += IDS_PER_STATEMENT) {
    const part = ids.slice(i, i + IDS_PER_STATEMENT);
    for (const r of await readerOf(target).all<{ paymentId: string; credits: number }>(SQL.takenBackMany(part.length), part)) out.set(r.paymentId, r.credits);
  }
  return out;
}

/** A user's most recent Stripe purchases (top-ups too), newest first, each with what was taken back from it. */
export async function readPurchasesWithRefunds(target: SqlTarget, userId: number, limit: number): Promise<PurchaseWithRefunds[]> {
  return readerOf(target).all<PurchaseWithRefunds>(SQL.purchasesOf, [userId, Math.max(1, Math.trunc(limit) || 1)]);
}

/** `takeBackLimit` on the executor: pass the write body's `tx` that will take the credits. */
export async function readTakeBackLimit(target: SqlTarget, purchase: Pick<Tx, "id" | "type">, wanted: number, now = Date.now()): Promise<number> {
  if (purchase.type !== "plan") return wanted;
  return Math.min(wanted, await readGrantLeft(target, purchase.id, now));
}

/** Seam (synchronous, SQLite): credits already taken back for one payment. Use readCreditsTakenBack. */
export function creditsTakenBack(db: AppDb, paymentIntentId: string): number {
  return stmts(db).takenBack.get(paymentIntentId)?.credits ?? 0;
}

/** Seam (synchronous, SQLite): use readCreditsTakenBackByPayment. */
export function creditsTakenBackByPayment(db: AppDb, paymentIntentIds: readonly string[]): Map<string, number> {
  if (paymentIntentIds.length === 0) return new Map();
  return new Map(stmts(db).takenBackMany.all(JSON.stringify([...new Set(paymentIntentIds)])).map((r) => [r.paymentId, r.credits]));
}

/** Seam (synchronous, SQLite): use readPurchasesWithRefunds. */
export function listPurchasesWithRefunds(db: AppDb, userId: number, limit: number): PurchaseWithRefunds[] {
  return stmts(db).purchasesOf.all(userId, limit);
}

/** What the customer paid for a purchase (minor units), as Stripe reported it at checkout. */
export function amountPaidFor(purchase: Pick<Tx, "meta">): { amountTotal: number | null; currency: string | null } {
  const meta = parseJsonObject(purchase.meta);
  return {
    amountTotal: typeof meta.amountTotal === "number" ? meta.amountTotal : null,
    currency: typeof meta.currency === "string" ? meta.currency : null,
  };
}

export type Refundability =
  | { ok: true; paymentIntentId: string }
  | { ok: false; reason: "not_a_stripe_purchase" | "refunded_in_full" };

/** The refund rule: only a Stripe purchase (a Checkout's, or an auto-recharge top-up: decision
 * 027) can be refunded, and only while some of it is left. */
export function refundabilityOf(
  purchase: Pick<Tx, "type" | "amount" | "stripePaymentId"> | undefined,
  takenBack: number,
): Refundability {
  if (!purchase || (purchase.type !== "purchase" && purchase.type !== "topup") || !purchase.stripePaymentId) return { ok: false, reason: "not_a_stripe_purchase" };
  if (takenBack >= purchase.amount) return { ok: false, reason: "refunded_in_full" };
  return { ok: true, paymentIntentId: purchase.stripePaymentId };
}

/**
 * How much of `wanted` a refund or dispute may take back from what a payment granted. A plan
 * period's credits are taken only from what its own grant has left: the credits already spent
 * were the service of that period, and the rest expires with it anyway. A pack's clawback is not
 * capped here (what was spent comes from other grants, then the debt grant: decision 020).
 * Seam (synchronous, SQLite): use readTakeBackLimit.
 */
export function takeBackLimit(db: AppDb, purchase: Pick<Tx, "id" | "type">, wanted: number, now = Date.now()): number {
  if (purchase.type !== "plan") return wanted;
  return Math.min(wanted, grantLeftOf(db, purchase.id, now));
}
