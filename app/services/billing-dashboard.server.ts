/**
 * What a customer reads about their credits: the history (keyset pages, newest first), the credits
 * bought and spent per day, and the Stripe receipt of a purchase (the same history as CSV:
 * history-csv.server.ts). Read-only: every write goes through money/ledger.server.ts.
 *
 * Every query is a range of a (user_id, ...) index, so its cost follows the page, not the length of
 * the history (see docs/decisions/011-admin-console.md); the chart reads user_daily_totals (037).
 * On the executor (decision 036): one SQL text for SQLite and PostgreSQL, the ledger's async reads
 * (readHistory, readGrantsOfRows), each batch an `IN (?, …)` list, meta decoded here, not in SQL.
 */
import Stripe from "stripe";
import { z } from "zod";
import type { PortableDb } from "#db/client.server";
import { TRANSACTION_TYPES, type TransactionStatus, type TransactionType } from "#db/schema";
import { parseJsonObject } from "~/utils/json";
import { DAY_MS, dayLabel } from "~/utils/time";
import { displayStatusOf, isPayment, paidAtStripe, type DisplayStatus } from "./history-status";
import { readGrantsOfRows, readHistory, type Tx } from "./money/ledger.server";
import { TX_COLUMNS } from "./money/ledger-sql.server";

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

/** A page holds at most MAX_PAGE_SIZE rows, so every batch below is at most that many placeholders. */
const placeholders = (values: readonly unknown[]) => values.map(() => "?").join(", ");

const SQL = {
  // The "newer" direction (read upwards); the "older" one is the ledger's readHistory.
  newerAll: `SELECT ${TX_COLUMNS} FROM transactions WHERE user_id = ? AND id > ? ORDER BY id ASC LIMIT ?`,
  newerOfType: `SELECT ${TX_COLUMNS} FROM transactions WHERE user_id = ? AND type = ? AND id > ? ORDER BY id ASC LIMIT ?`,
  // By primary key, for the few rows of one page that name them. A deleted generation (or its
  // deleted result) is simply absent: the row keeps its description, without a link.
  generations: (n: readonly unknown[]) =>
    `SELECT id, prompt, CASE WHEN status = 'succeeded' AND result_path IS NOT NULL THEN 1 ELSE 0 END AS "hasResult" FROM generations
     WHERE id IN (${placeholders(n)})`,
  emails: (n: readonly unknown[]) => `SELECT id, email FROM users WHERE id IN (${placeholders(n)})`,
  keyNames: (n: readonly unknown[]) => `SELECT id, name FROM api_keys WHERE id IN (${placeholders(n)})`,
  // Credits taken back (refund rows, whatever took them) per purchase payment id.
  takenBack: (n: readonly unknown[]) =>
    `SELECT stripe_payment_id AS "paymentId", coalesce(-sum(amount), 0) AS credits FROM transactions
     WHERE stripe_payment_id IN (${placeholders(n)}) AND type = 'refund' GROUP BY stripe_payment_id`,
  // The user's figures per day, kept by triggers (decision 037): a few rows a day, however long
  // or busy the history. `day` is the UTC day number, computed when the row was written.
  chart: `SELECT day, type, status, credits AS total FROM user_daily_totals
     WHERE user_id = ? AND day >= ? AND type IN ('purchase', 'topup', 'usage')`,
  payment: `SELECT id, user_id AS "userId", type, created_at AS "createdAt", description, amount, stripe_payment_id AS "stripePaymentId", meta
     FROM transactions WHERE id = ?`,
};

type PaymentRow = {
  id: number;
  userId: number;
  type: TransactionType;
  createdAt: number;
  description: string;
  amount: number;
  stripePaymentId: string | null;
  meta: string | null;
};

/** Credits taken back per purchase payment id, for the purchases among `rows`. */
async function refundedByPayment(db: PortableDb, rows: readonly Tx[]): Promise<Map<string, number>> {
  const ids = [...new Set(rows.filter((r) => paidAtStripe(r.type) && r.stripePaymentId).map((r) => r.stripePaymentId!))];
  if (ids.length === 0) return new Map();
  return new Map((await db.sql.all<{ paymentId: string; credits: number }>(SQL.takenBack(ids), ids)).map((r) => [r.paymentId, r.credits]));
}

/** id -> value of one batch read by primary key (none when `ids` is empty). */
async function byIds<K, R extends { id: K }>(db: PortableDb, sql: (ids: readonly K[]) => string, ids: readonly K[]): Promise<Map<K, R>> {
  if (ids.length === 0) return new Map();
  return new Map((await db.sql.all<R>(sql(ids), ids)).map((r) => [r.id, r]));
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
  return { prompt: promptPreview(g.prompt), resultId: g.hasResult === 1 ? g.id : null };
}

async function toHistoryRows(db: PortableDb, raw: readonly Tx[], forAdmin: boolean): Promise<HistoryRow[]> {
  const metas = raw.map((r) => parseJsonObject(r.meta));
  const refunded = await refundedByPayment(db, raw);
  const adminIds = forAdmin ? [...new Set(raw.map((r) => r.adminId).filter((id): id is number => id !== null))] : [];
  const emails = await byIds<number, { id: number; email: string }>(db, SQL.emails, adminIds);
  const keyIds = [...new Set(raw.map((r) => r.apiKeyId).filter((id): id is number => id !== null))];
  const keyNames = await byIds<number, { id: number; name: string }>(db, SQL.keyNames, keyIds);
  const grants = await readGrantsOfRows(db, raw.filter((r) => r.amount > 0).map((r) => r.id));
  const generationIdOf = (i: number) => (raw[i]!.type === "usage" ? metas[i]!.generationId : undefined);
  const genIds = [...new Set(raw.map((_, i) => generationIdOf(i)).filter((g): g is string => typeof g === "string"))];
  const gens = await byIds<string, { id: string; prompt: string; hasResult: number }>(db, SQL.generations, genIds);
  const now = Date.now();
  return raw.map((r, i) => {
    const meta = metas[i]!;
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
      amountPaid: isPayment(r) && typeof meta.amountTotal === "number" ? meta.amountTotal : null,
      currency: isPayment(r) && typeof meta.currency === "string" ? meta.currency : null,
      stripePaymentId: r.stripePaymentId,
      generation: generationOf(gens, generationIdOf(i)),
      refundedCredits,
      apiKeyName: r.apiKeyId === null ? null : (keyNames.get(r.apiKeyId)?.name ?? null),
      expiresAt,
      expired: expiresAt !== null && (g!.closed || expiresAt <= now),
    };
    if (forAdmin) {
      row.adminEmail = r.adminId === null ? null : (emails.get(r.adminId)?.email ?? `user ${r.adminId}`);
      row.reason = r.reason;
    }
    return row;
  });
}

/** A cursor from the query string, as an id: past every id is the same as none. */
const asCursor = (n: number) => (Number.isSafeInteger(n) ? n : Number.MAX_SAFE_INTEGER);

/**
 * One page of a user's history, newest first. Keyset: `older` = rows before that id, `newer` = rows
 * after it (read upwards, then put back in newest-first order). With neither: the newest page.
 */
export async function listHistoryPage(
  db: PortableDb,
  opts: { userId: number; type?: TransactionType; older?: number; newer?: number; limit?: number; forAdmin?: boolean },
): Promise<HistoryPage> {
  const limit = Math.max(1, Math.min(MAX_PAGE_SIZE, Math.trunc(opts.limit ?? HISTORY_PAGE_SIZE) || 1));
  const goingNewer = opts.newer !== undefined && opts.older === undefined;
  let raw: Tx[];
  let more: boolean;
  if (goingNewer) {
    const cursor = asCursor(opts.newer!);
    raw = opts.type
      ? await db.sql.all<Tx>(SQL.newerOfType, [opts.userId, opts.type, cursor, limit + 1])
      : await db.sql.all<Tx>(SQL.newerAll, [opts.userId, cursor, limit + 1]);
    more = raw.length > limit;
    // Back at the top: show the newest page as it is, full, rather than a short page above it.
    if (!more) return listHistoryPage(db, { ...opts, newer: undefined, older: undefined });
    raw = raw.slice(0, limit).reverse();
  } else {
    const page = await readHistory(db, { userId: opts.userId, type: opts.type, cursor: opts.older === undefined ? null : asCursor(opts.older), limit });
    raw = page.items;
    more = page.nextCursor !== null;
  }
  const rows = await toHistoryRows(db, raw, opts.forAdmin ?? false);
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
export async function getCreditsChart(db: PortableDb, userId: number, opts: { days?: number; now?: number } = {}): Promise<ChartDay[]> {
  const days = opts.days ?? 30;
  const today = Math.floor((opts.now ?? Date.now()) / DAY_MS);
  const firstDay = today - days + 1;
  const series = new Map<number, ChartDay>();
  for (let d = firstDay; d <= today; d++) series.set(d, { day: dayLabel(d), bought: 0, spent: 0 });
  for (const r of await db.sql.all<{ day: number; type: TransactionType; status: TransactionStatus; total: number }>(SQL.chart, [userId, firstDay])) {
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
  db: PortableDb,
  stripe: Stripe,
  input: { userId: number; transactionId: number },
): Promise<string | null> {
  // Read first, outside any write: Stripe is asked only after the database answered.
  const row = await paymentRowOf(db, input.transactionId);
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

/** A row by id (an id that is not one, from a URL, is no row). */
async function paymentRowOf(db: PortableDb, transactionId: number): Promise<PaymentRow | undefined> {
  if (!Number.isSafeInteger(transactionId)) return undefined;
  return db.sql.get<PaymentRow>(SQL.payment, [transactionId]);
}

export function receiptNumberOf(transactionId: number): string {
  return `CS-${String(transactionId).padStart(6, "0")}`;
}

/** The app's receipt of one of the user's payments; null when the row is not this user's payment
 * (the route answers 404 for both, so an id says nothing about other accounts). */
export async function getPaymentReceipt(db: PortableDb, input: { userId: number; transactionId: number }): Promise<PaymentReceipt | null> {
  const row = await paymentRowOf(db, input.transactionId);
  if (!row || row.userId !== input.userId || !isPayment(row)) return null;
  const meta = parseJsonObject(row.meta);
  return {
    id: row.id,
    receiptNumber: receiptNumberOf(row.id),
    type: row.type as PaymentReceipt["type"],
    createdAt: row.createdAt,
    description: row.description,
    credits: row.amount,
    amountTotal: typeof meta.amountTotal === "number" ? meta.amountTotal : null,
    currency: typeof meta.currency === "string" ? meta.currency : null,
    stripePaymentId: row.stripePaymentId!,
  };
}
