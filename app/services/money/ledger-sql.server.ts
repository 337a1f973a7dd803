/**
 * The SQL the ledger runs: its prepared statements (one set per connection) and the SQLite
 * transactions built from them. Only ledger.server.ts calls these; it validates every argument
 * first and runs each write with .immediate() (BEGIN IMMEDIATE). The guarded debit below is the
 * only way spending takes credits.
 */
import type Database from "better-sqlite3";
import type { AppDb } from "../../../db/client.server";
import type { TransactionType } from "../../../db/schema";
import { LedgerError, parseMeta, type Insufficient, type KeyLimitReached, type Tx, type VoidRecord, type Written } from "./ledger-model.server";

const TX_COLUMNS = `id, user_id AS userId, amount, type, status, idempotency_key AS idempotencyKey,
  description, stripe_payment_id AS stripePaymentId, balance_after AS balanceAfter,
  expires_at AS expiresAt, admin_id AS adminId, reason, meta, created_at AS createdAt,
  settled_at AS settledAt, api_key_id AS apiKeyId`;

type InsertRow = {
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
      `SELECT ${TX_COLUMNS} FROM transactions WHERE stripe_payment_id = ? AND type = 'purchase' ORDER BY id LIMIT 1`,
    ),
    expired: sqlite.prepare<[number, number], { id: number }>(
      `SELECT id FROM transactions WHERE status = 'pending' AND expires_at <= ? ORDER BY expires_at, id LIMIT ?`,
    ),
  };
}


type Statements = ReturnType<typeof prepareStatements>;
export type Ledger = Statements & { sqlite: Database.Database; tx: ReturnType<typeof prepareTransactions> };

const ledgers = new WeakMap<Database.Database, Ledger>();

/** The statements and transactions of one connection, prepared once. */
export function ledgerOf(db: AppDb): Ledger {
  let ledger = ledgers.get(db.sqlite);
  if (!ledger) {
    const statements = prepareStatements(db.sqlite);
    ledger = { ...statements, sqlite: db.sqlite, tx: undefined as never };
    ledger.tx = prepareTransactions(ledger);
    ledgers.set(db.sqlite, ledger);
  }
  return ledger;
}

function replayOf(l: Ledger, key: string, userId: number, type: TransactionType, amount: number): Written | undefined {
  const existing = l.byKey.get(key);
  if (!existing) return undefined;
  if (existing.userId !== userId || existing.type !== type || existing.amount !== amount) {
    throw new LedgerError(
      "key_conflict",
      `key ${JSON.stringify(key)} already names a different write ` +
        `(user ${existing.userId}, ${existing.type} ${existing.amount}; asked: user ${userId}, ${type} ${amount})`,
    );
  }
  return { transaction: existing, replayed: true };
}

function insufficientOrMissing(l: Ledger, userId: number, needed: number): Insufficient {
  const row = l.userCredits.get(userId);
  if (!row) throw new LedgerError("user_not_found", `user ${userId} not found`);
  return { ok: false, reason: "insufficient_credits", balance: row.credits, needed };
}

function requireUser(l: Ledger, userId: number, what = "user"): void {
  if (!l.userCredits.get(userId)) throw new LedgerError("user_not_found", `${what} ${userId} not found`);
}

// ---------------------------------------------------------------------------------------------
// The writes, each one SQLite transaction (run with .immediate()).

// Only holds are spent through a key, so a posted row never names one.
export type PostedArgs = Omit<InsertRow, "status" | "balanceAfter" | "expiresAt" | "settledAt" | "apiKeyId">;

/** A literal with every column (no spread): better-sqlite3 binds named parameters faster from an
 * object of one fixed shape. */
function postedRow(row: PostedArgs, balanceAfter: number): InsertRow {
  return {
    userId: row.userId,
    amount: row.amount,
    type: row.type,
    status: "posted",
    key: row.key,
    description: row.description,
    stripePaymentId: row.stripePaymentId,
    balanceAfter,
    expiresAt: null,
    adminId: row.adminId,
    reason: row.reason,
    meta: row.meta,
    createdAt: row.createdAt,
    settledAt: row.createdAt,
    apiKeyId: null,
  };
}

/** `apiKey`: the key spending it, its limit (null: none) and where its month starts. */
export type HoldArgs = {
  userId: number;
  cost: number;
  key: string;
  description: string;
  expiresAt: number;
  meta: string | null;
  now: number;
  apiKey: { id: number; monthlyLimit: number | null; monthStart: number } | null;
};
type Debit = ({ ok: true } & Written) | Insufficient;

/** The key's monthly limit, read inside the hold's own write transaction, so parallel holds
 * through one key are counted one after the other and can never pass it together. */
function keyLimitRefusal(l: Ledger, a: HoldArgs): KeyLimitReached | undefined {
  if (!a.apiKey || a.apiKey.monthlyLimit === null) return undefined;
  const spentThisMonth = l.keySpend.get(a.apiKey.id, a.apiKey.monthStart)!.spent;
  if (spentThisMonth + a.cost <= a.apiKey.monthlyLimit) return undefined;
  return { ok: false, reason: "key_limit_reached", limit: a.apiKey.monthlyLimit, spentThisMonth, needed: a.cost };
}

function prepareTransactions(l: Ledger) {
  const { sqlite } = l;

  const spend = sqlite.transaction((a: HoldArgs): Debit | KeyLimitReached => {
    const replay = replayOf(l, a.key, a.userId, "usage", -a.cost);
    if (replay) return { ok: true, ...replay };
    const overLimit = keyLimitRefusal(l, a);
    if (overLimit) return overLimit;
    const debited = l.debit.get(a.cost, a.now, a.userId, a.cost);
    if (!debited) return insufficientOrMissing(l, a.userId, a.cost);
    const transaction = l.insert.get({
      userId: a.userId,
      amount: -a.cost,
      type: "usage",
      status: "pending",
      key: a.key,
      description: a.description,
      stripePaymentId: null,
      balanceAfter: debited.credits,
      expiresAt: a.expiresAt,
      adminId: null,
      reason: null,
      meta: a.meta,
      createdAt: a.now,
      settledAt: null,
      apiKeyId: a.apiKey?.id ?? null,
    })!;
    return { ok: true, transaction, replayed: false };
  });

  /** A posted row that moves credits without a guard (grants, clawbacks, positive adjustments). */
  const credit = sqlite.transaction((row: PostedArgs): Written => {
    const replay = replayOf(l, row.key, row.userId, row.type, row.amount);
    if (replay) return replay;
    if (row.adminId !== null) requireUser(l, row.adminId, "admin");
    const changed = l.change.get(row.amount, row.createdAt, row.userId);
    if (!changed) throw new LedgerError("user_not_found", `user ${row.userId} not found`);
    const transaction = l.insert.get(postedRow(row, changed.credits))!;
    return { transaction, replayed: false };
  });

  /** Gives back what one clawback took, once: a posted refund row of the opposite sign that
   * names the clawback in meta.reverses (the verifier checks the pair). */
  const reverse = sqlite.transaction((reversesKey: string, row: Omit<PostedArgs, "userId" | "amount" | "type" | "stripePaymentId">): Written => {
    const original = l.byKey.get(reversesKey);
    if (!original || original.type !== "refund" || original.amount >= 0) {
      throw new LedgerError("invalid_request", `no clawback keyed ${JSON.stringify(reversesKey)} to reverse`);
    }
    return credit({
      ...row,
      userId: original.userId,
      amount: -original.amount,
      type: "refund",
      stripePaymentId: original.stripePaymentId,
      meta: JSON.stringify({ ...parseMeta(row.meta), reverses: reversesKey }),
    });
  });

  /** A guarded debit that is final at once (negative admin adjustment). */
  const guardedDebit = sqlite.transaction((row: PostedArgs): Debit => {
    const replay = replayOf(l, row.key, row.userId, row.type, row.amount);
    if (replay) return { ok: true, ...replay };
    if (row.adminId !== null) requireUser(l, row.adminId, "admin");
    const needed = -row.amount;
    const debited = l.debit.get(needed, row.createdAt, row.userId, needed);
    if (!debited) return insufficientOrMissing(l, row.userId, needed);
    const transaction = l.insert.get(postedRow(row, debited.credits))!;
    return { ok: true, transaction, replayed: false };
  });

  const post = sqlite.transaction((holdId: number, now: number): Written => {
    const posted = l.post.get(now, holdId);
    if (posted) return { transaction: posted, replayed: false };
    return settledAlready(l, holdId, "posted");
  });

  const voidOne = (holdId: number, reason: string, now: number): Written => {
    const hold = l.byId.get(holdId);
    if (!hold || hold.type !== "usage") throw new LedgerError("hold_not_found", `hold ${holdId} not found`);
    if (hold.status !== "pending") return settledAlready(l, holdId, "voided");
    const refunded = l.change.get(-hold.amount, now, hold.userId)!;
    const record: VoidRecord = { voidReason: reason, voidBalanceAfter: refunded.credits, voidAfterId: l.maxId.get()!.maxId };
    const meta = JSON.stringify({ ...parseMeta(hold.meta), ...record });
    const voided = l.void.get(now, meta, holdId)!;
    return { transaction: voided, replayed: false };
  };

  const voidHold = sqlite.transaction(voidOne);

  // onVoided runs inside this transaction: what it writes commits with the void, or neither does.
  const sweep = sqlite.transaction((now: number, batch: number, onVoided?: (hold: Tx) => void): number => {
    const due = l.expired.all(now, batch);
    for (const { id } of due) {
      const { transaction, replayed } = voidOne(id, "expired", now);
      if (!replayed) onVoided?.(transaction);
    }
    return due.length;
  });

  const extend = sqlite.transaction((holdId: number, expiresAt: number, maxLifetimeMs: number): { extended: boolean; transaction: Tx } => {
    const current = l.byId.get(holdId);
    if (!current || current.type !== "usage") throw new LedgerError("hold_not_found", `hold ${holdId} not found`);
    const extended = l.extend.get({ id: holdId, expiresAt, maxLifetimeMs });
    return extended ? { extended: true, transaction: extended } : { extended: false, transaction: current };
  });

  const balance = sqlite.transaction((userId: number) => {
    const row = l.userCredits.get(userId);
    if (!row) throw new LedgerError("user_not_found", `user ${userId} not found`);
    return { balance: row.credits, onHold: l.onHold.get(userId)!.onHold };
  });

  const keySpent = sqlite.transaction((apiKeyId: number, since: number): number => l.keySpend.get(apiKeyId, since)!.spent);

  return { spend, credit, reverse, guardedDebit, post, voidHold, sweep, extend, balance, keySpent };
}

/** postHold / voidHold on a row that is no longer pending: a replay, or a refusal. */
function settledAlready(l: Ledger, holdId: number, wanted: "posted" | "voided"): Written {
  const hold = l.byId.get(holdId);
  if (!hold || hold.type !== "usage") throw new LedgerError("hold_not_found", `hold ${holdId} not found`);
  if (hold.status === wanted) return { transaction: hold, replayed: true };
  if (hold.status === "voided") throw new LedgerError("hold_voided", `hold ${holdId} was voided; it cannot be posted`);
  if (hold.status === "posted") throw new LedgerError("hold_posted", `hold ${holdId} was posted; it cannot be voided`);
  // Pending here means the caller raced nobody (we hold the write lock): cannot happen.
  throw new LedgerError("hold_not_found", `hold ${holdId} is in an unexpected state ${hold.status}`);
}
