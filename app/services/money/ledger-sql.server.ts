/**
 * The SQL the ledger runs: its prepared statements (one set per connection) and the SQLite
 * transactions built from them. Only ledger.server.ts calls these; it validates every argument
 * first and runs each write with .immediate() (BEGIN IMMEDIATE). The guarded debit below is the
 * only way spending takes credits.
 */
import type Database from "better-sqlite3";
import type { AppDb } from "../../../db/client.server";
import type { TransactionType } from "../../../db/schema";
import { prepareGrants, type Grants } from "./ledger-grants.server";
import type { Tx } from "./ledger-model.server";
import { prepareTransactions } from "./ledger-writes.server";

const TX_COLUMNS = `id, user_id AS userId, amount, type, status, idempotency_key AS idempotencyKey,
  description, stripe_payment_id AS stripePaymentId, balance_after AS balanceAfter,
  expires_at AS expiresAt, admin_id AS adminId, reason, meta, created_at AS createdAt,
  settled_at AS settledAt, api_key_id AS apiKeyId`;

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

function prepareStatements(sqlite: Database.Database) {
  return {
    byKey: sqlite.prepare<[string], Tx>(`SELECT ${TX_COLUMNS} FROM transactions WHERE idempotency_key = ?`),
    byId: sqlite.prepare<[number], Tx>(`SELECT ${TX_COLUMNS} FROM transactions WHERE id = ?`),
    userCredits: sqlite.prepare<[number], { credits: number }>(`SELECT credits FROM users WHERE id = ?`),
    // The guarded debit: the only way spending takes credits. Zero rows: too little, or no user.
    debit: sqlite.prepare<[number, number, number, number], { credits: number }>(
      `UPDATE users SET credits = credits - ?, updated_at = ? WHERE id = ? AND credits >= ? RETURNING credits`,
    ),
    // Unguarded change (grants, voids, clawbacks).
    change: sqlite.prepare<[number, number, number], { credits: number }>(
      `UPDATE users SET credits = credits + ?, updated_at = ? WHERE id = ? RETURNING credits`,
    ),
    insert: sqlite.prepare<InsertRow, Tx>(
      `INSERT INTO transactions (user_id, amount, type, status, idempotency_key, description,
         stripe_payment_id, balance_after, expires_at, admin_id, reason, meta, created_at, settled_at, api_key_id)
       VALUES (@userId, @amount, @type, @status, @key, @description, @stripePaymentId, @balanceAfter,
         @expiresAt, @adminId, @reason, @meta, @createdAt, @settledAt, @apiKeyId)
       RETURNING ${TX_COLUMNS}`,
    ),
    post: sqlite.prepare<[number, number], Tx>(
      `UPDATE transactions SET status = 'posted', settled_at = ?
       WHERE id = ? AND status = 'pending' AND type = 'usage' RETURNING ${TX_COLUMNS}`,
    ),
    void: sqlite.prepare<[number, string, number], Tx>(
      `UPDATE transactions SET status = 'voided', settled_at = ?, meta = ?
       WHERE id = ? AND status = 'pending' AND type = 'usage' RETURNING ${TX_COLUMNS}`,
    ),
    // Forward only, and never past the cap counted from the hold's creation.
    extend: sqlite.prepare<{ id: number; expiresAt: number; maxLifetimeMs: number }, Tx>(
      `UPDATE transactions SET expires_at = min(@expiresAt, created_at + @maxLifetimeMs)
       WHERE id = @id AND status = 'pending' AND type = 'usage'
         AND expires_at < min(@expiresAt, created_at + @maxLifetimeMs)
       RETURNING ${TX_COLUMNS}`,
    ),
    // What a key has spent since `since` (the month start): its holds still pending and its
    // posted usage; voided holds gave their credits back, so they never count.
    keySpend: sqlite.prepare<[number, number], { spent: number }>(
      `SELECT coalesce(sum(-amount), 0) AS spent FROM transactions
       WHERE api_key_id = ? AND created_at >= ? AND status IN ('pending', 'posted')`,
    ),
    maxId: sqlite.prepare<[], { maxId: number }>(`SELECT coalesce(max(id), 0) AS maxId FROM transactions`),
    onHold: sqlite.prepare<[number], { onHold: number }>(
      `SELECT coalesce(sum(-amount), 0) AS onHold FROM transactions
       WHERE user_id = ? AND type = 'usage' AND status = 'pending'`,
    ),
    history: sqlite.prepare<[number, number, number], Tx>(
      `SELECT ${TX_COLUMNS} FROM transactions WHERE user_id = ? AND id < ? ORDER BY id DESC LIMIT ?`,
    ),
    historyOfType: sqlite.prepare<[number, string, number, number], Tx>(
      `SELECT ${TX_COLUMNS} FROM transactions WHERE user_id = ? AND type = ? AND id < ? ORDER BY id DESC LIMIT ?`,
    ),
    purchaseByPayment: sqlite.prepare<[string], Tx>(
      `SELECT ${TX_COLUMNS} FROM transactions WHERE stripe_payment_id = ? AND type IN ('purchase', 'plan', 'topup') ORDER BY id LIMIT 1`,
    ),
    expiredHolds: sqlite.prepare<[number, number], { id: number }>(
      `SELECT id FROM transactions WHERE status = 'pending' AND expires_at <= ? ORDER BY expires_at, id LIMIT ?`,
    ),
  };
}


type Statements = ReturnType<typeof prepareStatements>;
export type Ledger = Statements & { sqlite: Database.Database; grants: Grants; tx: ReturnType<typeof prepareTransactions> };

const ledgers = new WeakMap<Database.Database, Ledger>();

/** The statements and transactions of one connection, prepared once. */
export function ledgerOf(db: AppDb): Ledger {
  let ledger = ledgers.get(db.sqlite);
  if (!ledger) {
    const statements = prepareStatements(db.sqlite);
    ledger = { ...statements, sqlite: db.sqlite, grants: undefined as never, tx: undefined as never };
    ledger.grants = prepareGrants(db.sqlite, expireRowWriter(ledger));
    ledger.tx = prepareTransactions(ledger);
    ledgers.set(db.sqlite, ledger);
  }
  return ledger;
}

/** The `expire` row a grant's closing writes: posted, negative, meta.grantId naming the grant. */
function expireRowWriter(l: Ledger) {
  return (a: { userId: number; grantId: number; amount: number; key: string; now: number }): void => {
    const changed = l.change.get(-a.amount, a.now, a.userId)!;
    l.insert.get({
      userId: a.userId, amount: -a.amount, type: "expire", status: "posted", key: a.key, description: "Credits expired",
      stripePaymentId: null, balanceAfter: changed.credits, expiresAt: null, adminId: null, reason: null,
      meta: JSON.stringify({ grantId: a.grantId }), createdAt: a.now, settledAt: a.now, apiKeyId: null,
    });
  };
}

