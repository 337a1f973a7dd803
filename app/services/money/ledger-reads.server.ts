/**
 * The ledger's reads: the spendable balance (live grants only), the history, one row by id or key,
 * and an API key's spend this month. Re-exported by ledger.server.ts, which callers import.
 */
import type Database from "better-sqlite3";
import type { AppDb } from "../../../db/client.server";
import type { TransactionType } from "../../../db/schema";
import { utcMonthStart } from "../../utils/time";
import { checkId, checkKey, checkTime, LedgerError, type Tx } from "./ledger-model.server";
import type { NextExpiry } from "./ledger-grants.server";
import { LEDGER_SQL, ledgerReadsOf, type LedgerReads } from "./ledger-sql.server";
import { GRANT_SQL, LIVE_GRANT, type GrantOfRow } from "./ledger-grants.server";
import { readerOf, type SqlTarget } from "../sql-target.server";

const MAX_HISTORY_PAGE = 100;


export type Balance = { balance: number; onHold: number; nextExpiry: NextExpiry };

/** The spendable balance (live grants only), what is on hold, and the next credits to expire. */
export function getBalance(db: AppDb, userId: number, now?: number): Balance {
  const r = ledgerReadsOf(db);
  // One read transaction, so all three come from the same snapshot.
  return snapshotReads(r).balance.deferred(checkId(userId, "userId"), checkTime(now ?? Date.now(), "now"));
}

// The two reads that need one snapshot, as deferred read transactions, built once per connection.
type SnapshotReads = {
  balance: Database.Transaction<(userId: number, now: number) => Balance>;
  keySpent: Database.Transaction<(apiKeyId: number, since: number) => number>;
};
const snapshots = new WeakMap<LedgerReads, SnapshotReads>();

function snapshotReads(r: LedgerReads): SnapshotReads {
  let reads = snapshots.get(r);
  if (!reads) {
    reads = {
      balance: r.sqlite.transaction((userId: number, now: number): Balance => {
        if (!r.userCredits.get(userId)) throw new LedgerError("user_not_found", `user ${userId} not found`);
        return { balance: r.grants.spendable(userId, now), onHold: r.onHold.get(userId)!.onHold, nextExpiry: r.grants.nextExpiry(userId, now) };
      }),
      keySpent: r.sqlite.transaction((apiKeyId: number, since: number): number => r.keySpend.get(apiKeyId, since)!.spent),
    };
    snapshots.set(r, reads);
  }
  return reads;
}

/** For rows that opened a grant: when it expires (null: never) and whether it has closed. */
export function grantsOfRows(db: AppDb, txIds: readonly number[]): Map<number, { expiresAt: number | null; closed: boolean }> {
  const out = new Map<number, { expiresAt: number | null; closed: boolean }>();
  for (const g of ledgerReadsOf(db).grants.ofRows(txIds)) out.set(g.txId, { expiresAt: g.expiresAt, closed: g.closedAt !== null });
  return out;
}

/** Keyset pagination, newest first. Pass the returned nextCursor to get the next page. */
export function listHistory(
  db: AppDb,
  opts: { userId: number; type?: TransactionType; cursor?: number | null; limit: number },
): { items: Tx[]; nextCursor: number | null } {
  const l = ledgerReadsOf(db);
  const limit = Math.max(1, Math.min(MAX_HISTORY_PAGE, Math.trunc(opts.limit) || 1));
  if (opts.cursor != null && !Number.isSafeInteger(opts.cursor)) {
    throw new LedgerError("invalid_request", `cursor must be a transaction id, got ${String(opts.cursor)}`);
  }
  // Ids are below 2^53, so "no cursor" is a cursor past every id: one statement shape per filter.
  const before = opts.cursor ?? Number.MAX_SAFE_INTEGER;
  const rows = opts.type
    ? l.historyOfType.all(opts.userId, opts.type, before, limit + 1)
    : l.history.all(opts.userId, before, limit + 1);
  const items = rows.slice(0, limit);
  return { items, nextCursor: rows.length > limit ? items[items.length - 1].id : null };
}

/** The state of a hold: pending, posted or voided (undefined: no such row). */
export function holdStatus(db: AppDb, holdId: number): Tx["status"] | undefined {
  return ledgerReadsOf(db).byId.get(checkId(holdId, "holdId"))?.status;
}

/** The row an idempotency key names, if any. */
export function findByKey(db: AppDb, key: string): Tx | undefined {
  return ledgerReadsOf(db).byKey.get(checkKey(key));
}

/** What is left to spend of the grant row `sourceTxId` opened: 0 once it is closed or expired. */
export function grantLeftOf(db: AppDb, sourceTxId: number, now: number = Date.now()): number {
  const g = ledgerReadsOf(db).grants.ofSource(checkId(sourceTxId, "sourceTxId"));
  if (!g || g.closedAt !== null || (g.expiresAt !== null && g.expiresAt <= now)) return 0;
  return Math.max(0, g.remaining);
}

/** The row a Stripe payment granted: a pack's purchase or a plan period (type `plan`, whose
 * payment is the invoice's PaymentIntent), so refunds and disputes find either. */
export function findPurchaseByPaymentId(db: AppDb, stripePaymentId: string): Tx | undefined {
  return ledgerReadsOf(db).purchaseByPayment.get(stripePaymentId);
}


/** Credits spent through a key in the UTC calendar month of `now`: its pending and posted usage
 * (the figure its monthly limit is checked against). */
export function keySpendThisMonth(db: AppDb, apiKeyId: number, now: number = Date.now()): number {
  return snapshotReads(ledgerReadsOf(db)).keySpent.deferred(checkId(apiKeyId, "apiKeyId"), utcMonthStart(now));
}

// ---------------------------------------------------------------------------------------------
// The same reads on the executor (decision 036): one SQL text for both engines, asynchronous,
// on the app's database (committed rows) or a write body's `tx` (its own rows too). Services
// ported to PortableDb call these; the synchronous ones above go once nothing calls them.

/** The spendable balance of the row `u` of users: the sum of its live grants. */
const SPENDABLE_OF_U = `(SELECT coalesce(sum(remaining), 0) FROM credit_grants WHERE user_id = u.id AND ${LIVE_GRANT})`;

/** One statement, so the balance, the holds and the next expiry come from one snapshot on both
 * engines (PostgreSQL's READ COMMITTED gives each statement its own). */
const BALANCE_SQL = `SELECT
   ${SPENDABLE_OF_U} AS balance,
   (SELECT coalesce(sum(-amount), 0) FROM transactions WHERE user_id = u.id AND type = 'usage' AND status = 'pending') AS "onHold",
   n.amount AS "nextAmount", n."expiresAt" AS "nextExpiresAt"
 FROM users u
 LEFT JOIN (SELECT sum(remaining) AS amount, expires_at AS "expiresAt" FROM credit_grants
   WHERE user_id = @userId AND ${LIVE_GRANT} AND expires_at IS NOT NULL AND remaining > 0
   GROUP BY expires_at ORDER BY expires_at LIMIT 1) n ON 1 = 1
 WHERE u.id = @userId`;

/** The spendable balance (live grants only), what is on hold, and the next credits to expire. */
export async function readBalance(target: SqlTarget, userId: number, now?: number): Promise<Balance> {
  const row = await readerOf(target).get<{ balance: number; onHold: number; nextAmount: number | null; nextExpiresAt: number | null }>(BALANCE_SQL, {
    userId: checkId(userId, "userId"),
    now: checkTime(now ?? Date.now(), "now"),
  });
  if (!row) throw new LedgerError("user_not_found", `user ${userId} not found`);
  const nextExpiry = row.nextExpiresAt === null || row.nextAmount === null ? null : { amount: row.nextAmount, expiresAt: row.nextExpiresAt };
  return { balance: row.balance, onHold: row.onHold, nextExpiry };
}

const SPENDABLE_SQL = `SELECT ${SPENDABLE_OF_U} AS balance FROM users u WHERE u.id = @userId`;

/** The spendable balance alone: readBalance's first figure without the holds and the next expiry,
 * for the answers and checks after a spend that show or compare only it (one aggregate, no join). */
export async function readSpendableBalance(target: SqlTarget, userId: number, now?: number): Promise<number> {
  const row = await readerOf(target).get<{ balance: number }>(SPENDABLE_SQL, {
    userId: checkId(userId, "userId"),
    now: checkTime(now ?? Date.now(), "now"),
  });
  if (!row) throw new LedgerError("user_not_found", `user ${userId} not found`);
  return row.balance;
}

/** For rows that opened a grant: when it expires (null: never) and whether it has closed. */
export async function readGrantsOfRows(target: SqlTarget, txIds: readonly number[]): Promise<Map<number, { expiresAt: number | null; closed: boolean }>> {
  const out = new Map<number, { expiresAt: number | null; closed: boolean }>();
  if (txIds.length === 0) return out;
  const ids = txIds.map((id) => checkId(id, "txId"));
  // A page of history is at most MAX_HISTORY_PAGE ids: one placeholder each is portable.
  const rows = await readerOf(target).all<GrantOfRow>(
    `SELECT source_tx_id AS "txId", expires_at AS "expiresAt", closed_at AS "closedAt" FROM credit_grants
     WHERE source_tx_id IN (${ids.map(() => "?").join(", ")})`,
    ids,
  );
  for (const g of rows) out.set(g.txId, { expiresAt: g.expiresAt, closed: g.closedAt !== null });
  return out;
}

/** Keyset pagination, newest first. Pass the returned nextCursor to get the next page. */
export async function readHistory(
  target: SqlTarget,
  opts: { userId: number; type?: TransactionType; cursor?: number | null; limit: number },
): Promise<{ items: Tx[]; nextCursor: number | null }> {
  const limit = Math.max(1, Math.min(MAX_HISTORY_PAGE, Math.trunc(opts.limit) || 1));
  if (opts.cursor != null && !Number.isSafeInteger(opts.cursor)) {
    throw new LedgerError("invalid_request", `cursor must be a transaction id, got ${String(opts.cursor)}`);
  }
  const before = opts.cursor ?? Number.MAX_SAFE_INTEGER;
  const r = readerOf(target);
  const rows = opts.type
    ? await r.all<Tx>(LEDGER_SQL.historyOfType, [opts.userId, opts.type, before, limit + 1])
    : await r.all<Tx>(LEDGER_SQL.history, [opts.userId, before, limit + 1]);
  const items = rows.slice(0, limit);
  return { items, nextCursor: rows.length > limit ? items[items.length - 1].id : null };
}

/** The state of a hold: pending, posted or voided (undefined: no such row). */
export async function readHoldStatus(target: SqlTarget, holdId: number): Promise<Tx["status"] | undefined> {
  return (await readerOf(target).get<Tx>(LEDGER_SQL.byId, [checkId(holdId, "holdId")]))?.status;
}

/** The row an idempotency key names, if any. */
export async function readByKey(target: SqlTarget, key: string): Promise<Tx | undefined> {
  return await readerOf(target).get<Tx>(LEDGER_SQL.byKey, [checkKey(key)]);
}

/** What is left to spend of the grant row `sourceTxId` opened: 0 once it is closed or expired. */
export async function readGrantLeft(target: SqlTarget, sourceTxId: number, now: number = Date.now()): Promise<number> {
  const g = await readerOf(target).get<{ remaining: number; expiresAt: number | null; closedAt: number | null }>(GRANT_SQL.bySource, [
    checkId(sourceTxId, "sourceTxId"),
  ]);
  if (!g || g.closedAt !== null || (g.expiresAt !== null && g.expiresAt <= now)) return 0;
  return Math.max(0, g.remaining);
}

/** The row a Stripe payment granted (a pack's purchase, a plan period or a topup). */
export async function readPurchaseByPaymentId(target: SqlTarget, stripePaymentId: string): Promise<Tx | undefined> {
  return await readerOf(target).get<Tx>(LEDGER_SQL.purchaseByPayment, [stripePaymentId]);
}

/** Credits spent through a key in the UTC calendar month of `now` (pending and posted usage). */
export async function readKeySpendThisMonth(target: SqlTarget, apiKeyId: number, now: number = Date.now()): Promise<number> {
  const row = await readerOf(target).get<{ spent: number }>(LEDGER_SQL.keySpend, [checkId(apiKeyId, "apiKeyId"), utcMonthStart(now)]);
  return row!.spent;
}
