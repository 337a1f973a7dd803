/**
 * The SQL the ledger runs, as text shared by both engines (db/sql.server.ts rewrites `?` and
 * `@name` for PostgreSQL; column aliases are quoted so PostgreSQL keeps their case), and the
 * read statements prepared once per SQLite connection for the synchronous reads. Only the ledger's
 * own modules use these; ledger.server.ts validates every argument first. The guarded debit below
 * is the only way spending takes credits.
 */
import type Database from "better-sqlite3";
import type { AppDb } from "../../../db/client.server";
import type { SqlRunner } from "../../../db/sql.server";
import type { TransactionType } from "../../../db/schema";
import { grantReadsOf, type GrantReads } from "./ledger-grants.server";
import type { Tx } from "./ledger-model.server";

export const TX_COLUMNS = `id, user_id AS "userId", amount, type, status, idempotency_key AS "idempotencyKey",
  description, stripe_payment_id AS "stripePaymentId", balance_after AS "balanceAfter",
  expires_at AS "expiresAt", admin_id AS "adminId", reason, meta, created_at AS "createdAt",
  settled_at AS "settledAt", api_key_id AS "apiKeyId"`;

export type InsertRow = {
  userId: number;
  amount: number;
  type: TransactionType;
  status: "pending" | "posted";
  key: string;
  description: string;
  stripePaymentId: string | null;
  balanceAfter: number;
  expiresAt: number | null;
  adminId: number | null;
  reason: string | null;
  meta: string | null;
  createdAt: number;
  settledAt: number | null;
  apiKeyId: number | null;
};

/** Every statement's text, once: the writes run them through the executor, the reads prepare them. */
export const LEDGER_SQL = {
  byKey: `SELECT ${TX_COLUMNS} FROM transactions WHERE idempotency_key = ?`,
  byId: `SELECT ${TX_COLUMNS} FROM transactions WHERE id = ?`,
  userCredits: `SELECT credits FROM users WHERE id = ?`,
  // A no-op write that takes the user's row lock on PostgreSQL (SQLite's writes are serial
  // already): every spend of one user then reads its grants after the previous spend committed.
  lockUser: `SELECT credits FROM users WHERE id = ? FOR NO KEY UPDATE`,
  // The hold as it is now, its row locked (PostgreSQL re-reads it after waiting on a post or a
  // void in flight), so a void decides on the settled state, never on a stale "pending".
  lockHold: `SELECT ${TX_COLUMNS} FROM transactions WHERE id = ? FOR NO KEY UPDATE`,
  // The guarded debit: the only way spending takes credits. Zero rows: too little, or no user.
  debit: `UPDATE users SET credits = credits - ?, updated_at = ? WHERE id = ? AND credits >= ? RETURNING credits`,
  // Unguarded change (grants, voids, clawbacks).
  change: `UPDATE users SET credits = credits + ?, updated_at = ? WHERE id = ? RETURNING credits`,
  insert: `INSERT INTO transactions (user_id, amount, type, status, idempotency_key, description,
     stripe_payment_id, balance_after, expires_at, admin_id, reason, meta, created_at, settled_at, api_key_id)
   VALUES (@userId, @amount, @type, @status, @key, @description, @stripePaymentId, @balanceAfter,
     @expiresAt, @adminId, @reason, @meta, @createdAt, @settledAt, @apiKeyId)
   RETURNING ${TX_COLUMNS}`,
  post: `UPDATE transactions SET status = 'posted', settled_at = ?
   WHERE id = ? AND status = 'pending' AND type = 'usage' RETURNING ${TX_COLUMNS}`,
  void: `UPDATE transactions SET status = 'voided', settled_at = ?, meta = ?
   WHERE id = ? AND status = 'pending' AND type = 'usage' RETURNING ${TX_COLUMNS}`,
  // Forward only, and never past the cap counted from the hold's creation (CASE, not min(): one
  // text for both engines).
  extend: `UPDATE transactions SET expires_at = CASE WHEN @expiresAt < created_at + @maxLifetimeMs THEN @expiresAt ELSE created_at + @maxLifetimeMs END
   WHERE id = @id AND status = 'pending' AND type = 'usage'
     AND expires_at < CASE WHEN @expiresAt < created_at + @maxLifetimeMs THEN @expiresAt ELSE created_at + @maxLifetimeMs END
   RETURNING ${TX_COLUMNS}`,
  // What a key has spent since `since` (the month start): its holds still pending and its
  // posted usage; voided holds gave their credits back, so they never count.
  keySpend: `SELECT coalesce(sum(-amount), 0) AS spent FROM transactions
   WHERE api_key_id = ? AND created_at >= ? AND status IN ('pending', 'posted')`,
  maxId: `SELECT coalesce(max(id), 0) AS "maxId" FROM transactions`,
  onHold: `SELECT coalesce(sum(-amount), 0) AS "onHold" FROM transactions
   WHERE user_id = ? AND type = 'usage' AND status = 'pending'`,
  history: `SELECT ${TX_COLUMNS} FROM transactions WHERE user_id = ? AND id < ? ORDER BY id DESC LIMIT ?`,
  historyOfType: `SELECT ${TX_COLUMNS} FROM transactions WHERE user_id = ? AND type = ? AND id < ? ORDER BY id DESC LIMIT ?`,
  purchaseByPayment: `SELECT ${TX_COLUMNS} FROM transactions WHERE stripe_payment_id = ? AND type IN ('purchase', 'plan', 'topup') ORDER BY id LIMIT 1`,
  expiredHolds: `SELECT id FROM transactions WHERE status = 'pending' AND expires_at <= ? ORDER BY expires_at, id LIMIT ?`,
} as const;

/** The ledger's statements inside one write body (any engine). */
export function ledgerStatements(tx: SqlRunner) {
  const S = LEDGER_SQL;
  return {
    tx,
    byKey: (key: string) => tx.get<Tx>(S.byKey, [key]),
    byId: (id: number) => tx.get<Tx>(S.byId, [id]),
    userCredits: (userId: number) => tx.get<{ credits: number }>(S.userCredits, [userId]),
    lockUser: (userId: number) => tx.get<{ credits: number }>(S.lockUser, [userId]),
    lockHold: (id: number) => tx.get<Tx>(S.lockHold, [id]),
    debit: (cost: number, now: number, userId: number) => tx.get<{ credits: number }>(S.debit, [cost, now, userId, cost]),
    change: (amount: number, now: number, userId: number) => tx.get<{ credits: number }>(S.change, [amount, now, userId]),
    insert: async (row: InsertRow) => (await tx.get<Tx>(S.insert, row))!,
    post: (now: number, holdId: number) => tx.get<Tx>(S.post, [now, holdId]),
    void: (now: number, meta: string, holdId: number) => tx.get<Tx>(S.void, [now, meta, holdId]),
    extend: (a: { id: number; expiresAt: number; maxLifetimeMs: number }) => tx.get<Tx>(S.extend, a),
    keySpend: async (apiKeyId: number, since: number) => (await tx.get<{ spent: number }>(S.keySpend, [apiKeyId, since]))!.spent,
    maxId: async () => (await tx.get<{ maxId: number }>(S.maxId))!.maxId,
    purchaseByPayment: (paymentId: string) => tx.get<Tx>(S.purchaseByPayment, [paymentId]),
    expiredHolds: (now: number, limit: number) => tx.all<{ id: number }>(S.expiredHolds, [now, limit]),
  };
}
export type LedgerStatements = ReturnType<typeof ledgerStatements>;

function prepareReads(sqlite: Database.Database) {
  const S = LEDGER_SQL;
  return {
    byKey: sqlite.prepare<[string], Tx>(S.byKey),
    byId: sqlite.prepare<[number], Tx>(S.byId),
    userCredits: sqlite.prepare<[number], { credits: number }>(S.userCredits),
    keySpend: sqlite.prepare<[number, number], { spent: number }>(S.keySpend),
    onHold: sqlite.prepare<[number], { onHold: number }>(S.onHold),
    history: sqlite.prepare<[number, number, number], Tx>(S.history),
    historyOfType: sqlite.prepare<[number, string, number, number], Tx>(S.historyOfType),
    purchaseByPayment: sqlite.prepare<[string], Tx>(S.purchaseByPayment),
  };
}

/** The synchronous reads of one SQLite connection: its statements, prepared once, and the grants'. */
export type LedgerReads = ReturnType<typeof prepareReads> & { sqlite: Database.Database; grants: GrantReads };

const readers = new WeakMap<Database.Database, LedgerReads>();

export function ledgerReadsOf(db: AppDb): LedgerReads {
  let reads = readers.get(db.sqlite);
  if (!reads) {
    reads = { ...prepareReads(db.sqlite), sqlite: db.sqlite, grants: grantReadsOf(db.sqlite) };
    readers.set(db.sqlite, reads);
  }
  return reads;
}
