/**
 * The history as CSV (GET /settings/billing/history.csv): every row of one user, newest first, one
 * line per row, RFC 4180 quoting, formula cells defused. Read-only: every write goes through
 * money/ledger.server.ts. The columns read as the history pages do (history-status.ts).
 *
 * Fast and constant in memory, whatever the length of the history (docs/decisions/038-csv-export.md):
 * one statement (through the executor, so on SQLite and PostgreSQL alike) walks the (user_id, id)
 * index in keyset batches, each batch becomes one string encoded once, and the next batch is read
 * only when the consumer pulls. A slow client therefore holds the server to a batch or two, not the whole file —
 * provided the HTTP layer waits for the socket to drain (app/http/remix-handler.server.ts does).
 */
import type { PortableDb } from "#db/client.server";
import type { TransactionStatus, TransactionType } from "#db/schema";
import { csvMoney, csvText, isoUtc } from "~/utils/csv-cells";
import { parseJsonObject } from "~/utils/json";
import { displayStatusOf, isPayment, paidAtStripe } from "./history-status";

/** Rows per batch: ~80 KB of CSV, big enough that per-batch costs vanish, small enough to hold. */
export const CSV_BATCH_ROWS = 1000;

// amount_paid, currency, stripe_payment_id: what an accountant reconciles against Stripe's payouts.
// Appended, so the columns a spreadsheet already reads keep their places.
const CSV_HEADER = "id,date_utc,type,status,description,amount,balance_after,expires_at,amount_paid,currency,stripe_payment_id";

/** One row as the statement answers it. */
type SourceRow = {
  id: number;
  createdAt: number;
  type: TransactionType;
  status: TransactionStatus;
  description: string;
  amount: number;
  balanceAfter: number;
  stripePaymentId: string | null;
  apiKeyName: string | null;
  expiresAt: number | null;
  /** A payment's meta (JSON text), read only for the types that carry amountTotal and currency. */
  paymentMeta: string | null;
  refundedCredits: number | null;
};

// Everything a line needs in one pass over the index. The CASEs only spare work: a payment's meta is
// read (and parsed in csvLine, portable: no json_extract), a grant or the refunds looked up, only for
// the rows that can have one; the rules themselves (isPayment, displayStatusOf) are applied in
// csvLine. The refunds are summed as payment-queries.server.ts sums them (every refund row of the
// payment id, on its own index).
const BATCH_SQL = `SELECT t.id, t.created_at AS "createdAt", t.type, t.status, t.description, t.amount, t.balance_after AS "balanceAfter",
     t.stripe_payment_id AS "stripePaymentId",
     CASE WHEN t.api_key_id IS NOT NULL THEN (SELECT k.name FROM api_keys k WHERE k.id = t.api_key_id) END AS "apiKeyName",
     CASE WHEN t.amount > 0 THEN (SELECT g.expires_at FROM credit_grants g WHERE g.source_tx_id = t.id) END AS "expiresAt",
     CASE WHEN t.type IN ('purchase', 'topup', 'plan') THEN t.meta END AS "paymentMeta",
     CASE WHEN t.type IN ('purchase', 'topup') AND t.stripe_payment_id <> '' THEN
       (SELECT coalesce(-sum(r.amount), 0) FROM transactions r WHERE r.stripe_payment_id = t.stripe_payment_id AND r.type = 'refund') END AS "refundedCredits"
   FROM transactions t
   WHERE t.user_id = ? AND t.id < ?
   ORDER BY t.id DESC
   LIMIT ?`;

function csvLine(row: SourceRow): string {
  const { id, createdAt, type, status, description, amount, balanceAfter, stripePaymentId, apiKeyName, expiresAt, paymentMeta, refundedCredits: refunded } = row;
  const meta = paymentMeta === null ? {} : parseJsonObject(paymentMeta);
  const amountPaid = meta.amountTotal;
  const currency = meta.currency;
  const payment = isPayment({ type, stripePaymentId });
  // Credits taken back count only for a Stripe purchase with a payment id, as on the history page.
  const takenBack = stripePaymentId && paidAtStripe(type) ? (refunded ?? 0) : 0;
  return (
    // The status needs no csvText: it is one of DisplayStatus's four plain words.
    `${id},${isoUtc(createdAt)},${csvText(type)},${displayStatusOf({ type, status, amount }, takenBack)},` +
    `${csvText(apiKeyName === null ? description : `${description} (via key ${apiKeyName})`)},${amount},${balanceAfter},` +
    `${expiresAt === null ? "" : isoUtc(expiresAt)},` +
    `${payment && typeof amountPaid === "number" ? csvMoney(amountPaid) : ""},` +
    `${payment && typeof currency === "string" ? csvText(currency.toUpperCase()) : ""},` +
    `${stripePaymentId === null ? "" : csvText(stripePaymentId)}\r\n`
  );
}

/**
 * The whole history as CSV, streamed: each pull reads the next keyset batch (rows older than the
 * last one sent), so memory stays at a batch or two however long the history is: at most one
 * batch is read ahead of a consumer that is not reading.
 */
export function streamHistoryCsv(db: PortableDb, userId: number, batchRows = CSV_BATCH_ROWS): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  const limit = Math.max(1, Math.trunc(batchRows));
  // Ids are below 2^53: a cursor past every id starts at the newest row.
  let beforeId = Number.MAX_SAFE_INTEGER;
  let text = `${CSV_HEADER}\r\n`;
  return new ReadableStream<Uint8Array>(
    {
      // Each batch is one read of committed rows (no transaction held open while the client reads).
      async pull(controller) {
        const rows = await db.sql.all<SourceRow>(BATCH_SQL, [userId, beforeId, limit]);
        for (const row of rows) text += csvLine(row);
        if (text !== "") controller.enqueue(encoder.encode(text));
        text = "";
        if (rows.length < limit) controller.close();
        else beforeId = rows[rows.length - 1]!.id;
      },
    },
    // One batch read ahead at most: the stream asks for the next only when this one is taken.
    { highWaterMark: 1 },
  );
}

export function historyCsvFilename(now = Date.now()): string {
  return `credits-history-${new Date(now).toISOString().slice(0, 10)}.csv`;
}
