/**
 * What a customer reads about their credits: the history (keyset pages, newest first), the credits
 * bought and spent per day, and the Stripe receipt of a purchase (the same history as CSV:
 * history-csv.server.ts). Read-only: every write goes through money/ledger.server.ts.
 *
 * Every query is a range of a (user_id, ...) index, so its cost follows the page, not the length of
 * the history (see docs/decisions/011-admin-console.md); the chart reads user_daily_totals (037).
 */
import type Database from "better-sqlite3";
import Stripe from "stripe";
import { z } from "zod";
import type { AppDb } from "#db/client.server";
import { TRANSACTION_TYPES, type TransactionStatus, type TransactionType } from "#db/schema";
import { DAY_MS, dayLabel } from "~/utils/time";
import { displayStatusOf, isPayment, paidAtStripe, type DisplayStatus } from "./history-status";
import { grantsOfRows } from "./money/ledger.server";
import { creditsTakenBackByPayment } from "./money/payment-queries.server";

export const HISTORY_PAGE_SIZE = 25;
const MAX_PAGE_SIZE = 100;

/** The query string of a history page: `?type=usage&older=123` or `&newer=456`. Bad values are ignored. */
export const HistoryQuerySchema = z.object({
  type: z.enum(TRANSACTION_TYPES).optional().catch(undefined),
  older: z.coerce.number().int().positive().optional().catch(undefined),
  newer: z.coerce.number().int().positive().optional().catch(undefined),
});
export type HistoryQuery = z.infer<typeof HistoryQuerySchema>;

export function parseHistoryQuery(url: URL): HistoryQuery {
  return HistoryQuerySchema.parse(Object.fromEntries(url.searchParams));
}

export type { DisplayStatus };

export type HistoryRow = {
  id: number;
  createdAt: number;
  type: TransactionType;
  status: TransactionStatus;
  displayStatus: DisplayStatus;
  description: string;
  amount: number;
  balanceAfter: number;
  /** A payment (pack, top-up, plan period): it has a receipt page. */
  hasReceipt: boolean;
  /** Credits already taken back for this purchase (refund rows with its payment id). */
  refundedCredits: number;
  /** A payment's price as Stripe reported it (minor units) and its currency; null otherwise. */
  amountPaid: number | null;
  currency: string | null;
  /** The Stripe PaymentIntent of a payment, or of the payment a refund takes from. */
  stripePaymentId: string | null;
  /** A generation's usage: its prompt (shortened) and the id of its result file, when the
   * generation still exists and has one; null otherwise (deleted, failed, still running). */
  generation: { prompt: string; resultId: string | null } | null;
  /** Usage spent through an API key: the key's name ("via key <name>"); null otherwise. */
  apiKeyName: string | null;
  /** A row that gave credits: when they expire (null: never, or not a grant), and whether they
   * have (past the expiry, or closed by its `expire` row). */
  expiresAt: number | null;
  expired: boolean;
  /** Admin view only: who made a manual change and why. */
  adminEmail?: string | null;
  reason?: string | null;
};

export type HistoryPage = {
  rows: HistoryRow[];
  /** Pass as `older` for the next (older) page; null on the last page. */
  older: number | null;
  /** Pass as `newer` for the previous (newer) page; null on the first page. */
  newer: number | null;
};

type RawRow = {
  id: number;
  createdAt: number;
  type: TransactionType;
  status: TransactionStatus;
  description: string;
  amount: number;
  balanceAfter: number;
  stripePaymentId: string | null;
  adminId: number | null;
  reason: string | null;
  apiKeyName: string | null;
  amountPaid: unknown;
  currency: unknown;
  generationId: unknown;
};

// The key's name by primary key, only for the few rows of a page that name one.
const COLUMNS = `id, created_at AS createdAt, type, status, description, amount, balance_after AS balanceAfter,
  stripe_payment_id AS stripePaymentId, admin_id AS adminId, reason,
  json_extract(meta, '$.amountTotal') AS amountPaid, json_extract(meta, '$.currency') AS currency,
  CASE WHEN type = 'usage' THEN json_extract(meta, '$.generationId') END AS generationId,
  CASE WHEN api_key_id IS NULL THEN NULL ELSE (SELECT name FROM api_keys k WHERE k.id = api_key_id) END AS apiKeyName`;

function prepare(sqlite: Database.Database) {
  const ofType = (where: string, order: "ASC" | "DESC") =>
    sqlite.prepare<{ userId: number; type: string; cursor: number; limit: number }, RawRow>(
      `SELECT ${COLUMNS} FROM transactions WHERE user_id = @userId AND type = @type AND ${where} ORDER BY id ${order} LIMIT @limit`,
    );
  return {
    // Two statements per direction so SQLite picks (user_id, id) or (user_id, type, id) for each.
    olderAll: sqlite.prepare<{ userId: number; cursor: number; limit: number }, RawRow>(
      `SELECT ${COLUMNS} FROM transactions WHERE user_id = @userId AND id < @cursor ORDER BY id DESC LIMIT @limit`,
    ),
    newerAll: sqlite.prepare<{ userId: number; cursor: number; limit: number }, RawRow>(
      `SELECT ${COLUMNS} FROM transactions WHERE user_id = @userId AND id > @cursor ORDER BY id ASC LIMIT @limit`,
    ),
    olderOfType: ofType("id < @cursor", "DESC"),
    newerOfType: ofType("id > @cursor", "ASC"),
    // By primary key, for the few usage rows of one page or CSV batch. A deleted generation (or
    // its deleted result) is simply absent: the row keeps its description, without a link.
    generations: sqlite.prepare<[string], { id: string; prompt: string; hasResult: number }>(
      `SELECT id, prompt, (status = 'succeeded' AND result_path IS NOT NULL) AS hasResult FROM generations
       WHERE id IN (SELECT value FROM json_each(?))`,
    ),
    emails: sqlite.prepare<[string], { id: number; email: string }>(
      `SELECT id, email FROM users WHERE id IN (SELECT value FROM json_each(?))`,
    ),
    // The user's figures per day, kept by triggers (decision 037): a few rows a day, however
    // long or busy the history.
    chart: sqlite.prepare<[number, number], { day: number; type: TransactionType; status: TransactionStatus; total: number }>(
      `SELECT day, type, status, credits AS total FROM user_daily_totals
       WHERE user_id = ? AND day >= ? AND type IN ('purchase', 'topup', 'usage')`,
    ),
    purchase: sqlite.prepare<[number], { userId: number; type: TransactionType; stripePaymentId: string | null }>(
      `SELECT user_id AS userId, type, stripe_payment_id AS stripePaymentId FROM transactions WHERE id = ?`,
    ),
    payment: sqlite.prepare<[number], PaymentRow>(
      `SELECT id, user_id AS userId, type, created_at AS createdAt, description, amount, stripe_payment_id AS stripePaymentId,
         json_extract(meta, '$.amountTotal') AS amountTotal, json_extract(meta, '$.currency') AS currency
       FROM transactions WHERE id = ?`,
    ),
  };
}

const statements = new WeakMap<Database.Database, ReturnType<typeof prepare>>();
function stmts(db: AppDb) {
  let s = statements.get(db.sqlite);
  if (!s) statements.set(db.sqlite, (s = prepare(db.sqlite)));
  return s;
}

type PaymentRow = {
  id: number;
  userId: number;
  type: TransactionType;
  createdAt: number;
  description: string;
  amount: number;
  stripePaymentId: string | null;
  amountTotal: number | null;
  currency: string | null;
};

/** Credits taken back per purchase payment id, for the purchases among `rows`. */
function refundedByPayment(db: AppDb, rows: RawRow[]): Map<string, number> {
  const ids = rows.filter((r) => paidAtStripe(r.type) && r.stripePaymentId).map((r) => r.stripePaymentId!);
  return creditsTakenBackByPayment(db, ids);
}

const PROMPT_PREVIEW = 80;

/** A prompt as a history row shows it: one line, cut at a word near PROMPT_PREVIEW characters. */
export function promptPreview(prompt: string): string {
  const flat = prompt.replace(/\s+/g, " ").trim();
  if (flat.length <= PROMPT_PREVIEW) return flat;
  const cut = flat.slice(0, PROMPT_PREVIEW);
  const space = cut.lastIndexOf(" ");
  return `${(space > PROMPT_PREVIEW / 2 ? cut.slice(0, space) : cut).trimEnd()}…`;
}

function generationOf(gens: Map<string, { id: string; prompt: string; hasResult: number }>, id: unknown): HistoryRow["generation"] {
  const g = typeof id === "string" ? gens.get(id) : undefined;
  if (!g) return null;
  return { prompt: promptPreview(g.prompt), resultId: g.hasResult ? g.id : null };
}

function toHistoryRows(db: AppDb, raw: RawRow[], forAdmin: boolean): HistoryRow[] {
  const refunded = refundedByPayment(db, raw);
  const adminIds = forAdmin ? [...new Set(raw.map((r) => r.adminId).filter((id): id is number => id !== null))] : [];
  const emails = new Map(adminIds.length ? stmts(db).emails.all(JSON.stringify(adminIds)).map((u) => [u.id, u.email]) : []);
  const grants = grantsOfRows(db, raw.filter((r) => r.amount > 0).map((r) => r.id));
  const genIds = [...new Set(raw.map((r) => r.generationId).filter((g): g is string => typeof g === "string"))];
  const gens = new Map(genIds.length ? stmts(db).generations.all(JSON.stringify(genIds)).map((g) => [g.id, g]) : []);
  const now = Date.now();
  return raw.map((r) => {
    const g = grants.get(r.id);
    const expiresAt = g?.expiresAt ?? null;
    const refundedCredits = r.stripePaymentId && paidAtStripe(r.type) ? (refunded.get(r.stripePaymentId) ?? 0) : 0;
    const row: HistoryRow = {
      id: r.id,
      createdAt: r.createdAt,
      type: r.type,
      status: r.status,
      displayStatus: displayStatusOf(r, refundedCredits),
      description: r.description,
      amount: r.amount,
      balanceAfter: r.balanceAfter,
      hasReceipt: isPayment(r),
      amountPaid: isPayment(r) && typeof r.amountPaid === "number" ? r.amountPaid : null,
      currency: isPayment(r) && typeof r.currency === "string" ? r.currency : null,
      stripePaymentId: r.stripePaymentId,
      generation: generationOf(gens, r.generationId),
      refundedCredits,
      apiKeyName: r.apiKeyName,
      expiresAt,
      expired: expiresAt !== null && (g!.closed || expiresAt <= now),
    };
    if (forAdmin) {
      row.adminEmail = r.adminId === null ? null : (emails.get(r.adminId) ?? `user ${r.adminId}`);
      row.reason = r.reason;
    }
    return row;
  });
}

/**
 * One page of a user's history, newest first. Keyset: `older` = rows before that id, `newer` = rows
 * after it (read upwards, then put back in newest-first order). With neither: the newest page.
 */
export function listHistoryPage(
  db: AppDb,
  opts: { userId: number; type?: TransactionType; older?: number; newer?: number; limit?: number; forAdmin?: boolean },
): HistoryPage {
  const limit = Math.max(1, Math.min(MAX_PAGE_SIZE, Math.trunc(opts.limit ?? HISTORY_PAGE_SIZE)));
  const s = stmts(db);
  const goingNewer = opts.newer !== undefined && opts.older === undefined;
  const cursor = goingNewer ? opts.newer! : (opts.older ?? Number.MAX_SAFE_INTEGER);
  const args = { userId: opts.userId, cursor, limit: limit + 1 };
  let raw = opts.type
    ? (goingNewer ? s.newerOfType : s.olderOfType).all({ ...args, type: opts.type })
    : (goingNewer ? s.newerAll : s.olderAll).all(args);
  const more = raw.length > limit;
  // Back at the top: show the newest page as it is, full, rather than a short page above it.
  if (goingNewer && !more) return listHistoryPage(db, { ...opts, newer: undefined, older: undefined });
  raw = raw.slice(0, limit);
  if (goingNewer) raw.reverse();
  const rows = toHistoryRows(db, raw, opts.forAdmin ?? false);
  const first = rows[0]?.id ?? null;
  const last = rows[rows.length - 1]?.id ?? null;
  if (goingNewer) return { rows, older: last, newer: first };
  return { rows, older: more ? last : null, newer: opts.older !== undefined ? first : null };
}

// ---------------------------------------------------------------------------------------------
// Chart

export type ChartDay = { day: string; bought: number; spent: number };

/** UTC day as YYYY-MM-DD. */

/**
 * Credits bought (purchases, top-ups) and spent (posted usage; holds still pending are not spent
 * yet, voided ones never were) per UTC day, over the last `days` days including today.
 */
export function getCreditsChart(db: AppDb, userId: number, opts: { days?: number; now?: number } = {}): ChartDay[] {
  const days = opts.days ?? 30;
  const today = Math.floor((opts.now ?? Date.now()) / DAY_MS);
  const firstDay = today - days + 1;
  const series = new Map<number, ChartDay>();
  for (let d = firstDay; d <= today; d++) series.set(d, { day: dayLabel(d), bought: 0, spent: 0 });
  for (const r of stmts(db).chart.all(userId, firstDay)) {
    const point = series.get(r.day);
    if (!point) continue;
    if (r.type === "usage") {
      if (r.status === "posted") point.spent += -r.total;
    } else {
      point.bought += r.total;
    }
  }
  return [...series.values()];
}

// ---------------------------------------------------------------------------------------------
// Receipts

/**
 * The Stripe receipt of one of the user's purchases: the PaymentIntent's latest charge's
 * receipt_url. Null when the row is not this user's Stripe purchase or Stripe has no receipt.
 */
export async function findReceiptUrl(
  db: AppDb,
  stripe: Stripe,
  input: { userId: number; transactionId: number },
): Promise<string | null> {
  const row = stmts(db).purchase.get(input.transactionId);
  if (!row || row.userId !== input.userId || !isPayment(row) || !row.stripePaymentId) return null;
  let intent: Stripe.PaymentIntent;
  try {
    intent = await stripe.paymentIntents.retrieve(row.stripePaymentId, { expand: ["latest_charge"] });
  } catch (error) {
    // Stripe no longer knows the payment (another account, deleted test data): no receipt.
    if (error instanceof Stripe.errors.StripeInvalidRequestError && error.statusCode === 404) return null;
    throw error;
  }
  const charge = intent.latest_charge;
  if (!charge || typeof charge === "string") return null;
  return charge.receipt_url ?? null;
}

export type PaymentReceipt = {
  id: number;
  /** The app's own receipt number: stable, one per ledger row, nothing Stripe must be asked for. */
  receiptNumber: string;
  type: "purchase" | "topup" | "plan";
  createdAt: number;
  description: string;
  credits: number;
  /** Minor units, as Stripe reported them when the payment was granted; null if it said nothing. */
  amountTotal: number | null;
  currency: string | null;
  stripePaymentId: string;
};

export function receiptNumberOf(transactionId: number): string {
  return `CS-${String(transactionId).padStart(6, "0")}`;
}

/** The app's receipt of one of the user's payments; null when the row is not this user's payment
 * (the route answers 404 for both, so an id says nothing about other accounts). */
export function getPaymentReceipt(db: AppDb, input: { userId: number; transactionId: number }): PaymentReceipt | null {
  const row = stmts(db).payment.get(input.transactionId);
  if (!row || row.userId !== input.userId || !isPayment(row)) return null;
  return {
    id: row.id,
    receiptNumber: receiptNumberOf(row.id),
    type: row.type as PaymentReceipt["type"],
    createdAt: row.createdAt,
    description: row.description,
    credits: row.amount,
    amountTotal: typeof row.amountTotal === "number" ? row.amountTotal : null,
    currency: typeof row.currency === "string" ? row.currency : null,
    stripePaymentId: row.stripePaymentId!,
  };
}
