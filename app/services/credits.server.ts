/**
 * The credits ledger: the ONLY code that writes `users.credits` and `transactions`.
 *
 * Vocabulary (one word per money state, as in TigerBeetle):
 * - a *grant* adds credits (purchase, topup, bonus) and is posted at once;
 * - a *hold* is a `usage` row that is *pending*: its cost is already taken from the spendable
 *   balance; it has a *timeout* (`expires_at`);
 * - *posting* a hold makes it final; *voiding* it gives the credits back (the row stays, marked
 *   voided, and no longer counts);
 * - a *clawback* is a `refund` row taking credits back after a refunded or disputed payment.
 *
 * Invariant (checked by ledger-verify.server.ts and by the tests after every step):
 *   users.credits == SUM(amount) of the user's rows with status in ('pending', 'posted').
 *
 * Every write runs inside BEGIN IMMEDIATE, carries the caller's idempotency key, and uses
 * prepared statements cached per connection (no query building on any path; rows are read with
 * column aliases straight into drizzle's row type, so callers get the same `Tx` as from drizzle).
 * Why it is built this way: docs/decisions/003-ledger-two-phase-holds.md.
 */
import { randomUUID } from "node:crypto";
import type Database from "better-sqlite3";
import type { AppDb } from "../../db/client.server";
import type { transactions, TransactionType } from "../../db/schema";
import { incrementCounter } from "./metrics.server";

export type Tx = typeof transactions.$inferSelect;
/** `replayed: true` means the key already existed: nothing changed, this is the first result. */
export type Written = { transaction: Tx; replayed: boolean };
export type Insufficient = { ok: false; reason: "insufficient_credits"; balance: number; needed: number };

export type LedgerErrorCode =
  | "user_not_found"
  | "key_conflict"
  | "hold_not_found"
  | "hold_voided"
  | "hold_posted"
  | "invalid_amount"
  | "invalid_request";

export class LedgerError extends Error {
  readonly code: LedgerErrorCode;
  constructor(code: LedgerErrorCode, message: string) {
    super(message);
    this.name = "LedgerError";
    this.code = code;
  }
}

/** Largest amount a single write may move; far above any real pack, far below 2^53. */
export const MAX_AMOUNT = 1_000_000_000;
const MAX_HISTORY_PAGE = 100;

export type GrantType = Extract<TransactionType, "purchase" | "topup" | "bonus">;
export type Meta = Record<string, unknown>;

/** What voidHold merges into the row's meta: why, and where the void sits in the history, so
 * the verifier can replay every balance_after (a void writes no row of its own). */
export type VoidRecord = {
  voidReason: string;
  /** The spendable balance right after the void. */
  voidBalanceAfter: number;
  /** The largest transaction id when the void happened: it sits after that row, before the next. */
  voidAfterId: number;
};

// ---------------------------------------------------------------------------------------------
// Prepared statements, one set per connection.

const TX_COLUMNS = `id, user_id AS userId, amount, type, status, idempotency_key AS idempotencyKey,
  description, stripe_payment_id AS stripePaymentId, balance_after AS balanceAfter,
  expires_at AS expiresAt, admin_id AS adminId, reason, meta, created_at AS createdAt,
  settled_at AS settledAt`;

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
         stripe_payment_id, balance_after, expires_at, admin_id, reason, meta, created_at, settled_at)
       VALUES (@userId, @amount, @type, @status, @key, @description, @stripePaymentId, @balanceAfter,
         @expiresAt, @adminId, @reason, @meta, @createdAt, @settledAt)
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
type Ledger = Statements & { sqlite: Database.Database; tx: ReturnType<typeof prepareTransactions> };

const ledgers = new WeakMap<Database.Database, Ledger>();

function ledgerOf(db: AppDb): Ledger {
  let ledger = ledgers.get(db.sqlite);
  if (!ledger) {
    const statements = prepareStatements(db.sqlite);
    ledger = { ...statements, sqlite: db.sqlite, tx: undefined as never };
    ledger.tx = prepareTransactions(ledger);
    ledgers.set(db.sqlite, ledger);
  }
  return ledger;
}

// ---------------------------------------------------------------------------------------------
// Validation

function checkAmount(value: unknown, what: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value <= 0 || value > MAX_AMOUNT) {
    throw new LedgerError("invalid_amount", `${what} must be an integer between 1 and ${MAX_AMOUNT}, got ${String(value)}`);
  }
  return value;
}

function checkKey(key: unknown): string {
  if (typeof key !== "string" || key.length === 0 || key.length > 255) {
    throw new LedgerError("invalid_request", "an idempotency key (1-255 characters) is required");
  }
  return key;
}

function checkId(id: unknown, what: string): number {
  if (typeof id !== "number" || !Number.isSafeInteger(id) || id <= 0) {
    throw new LedgerError("invalid_request", `${what} must be a positive integer id, got ${String(id)}`);
  }
  return id;
}

function checkText(value: unknown, what: string): string {
  if (typeof value !== "string") throw new LedgerError("invalid_request", `${what} must be a string`);
  return value;
}

function encodeMeta(meta: Meta | undefined): string | null {
  return meta === undefined ? null : JSON.stringify(meta);
}

function parseMeta(meta: string | null): Meta {
  if (!meta) return {};
  try {
    const parsed: unknown = JSON.parse(meta);
    return parsed && typeof parsed === "object" && !Array.isArray(parsed) ? (parsed as Meta) : { value: parsed };
  } catch {
    return { raw: meta };
  }
}

/** The same key again: the first row if it is the same write, a conflict otherwise. */
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

type PostedArgs = Omit<InsertRow, "status" | "balanceAfter" | "expiresAt" | "settledAt">;

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
  };
}

type HoldArgs = { userId: number; cost: number; key: string; description: string; expiresAt: number | null; meta: string | null; now: number; post: boolean };
type Debit = ({ ok: true } & Written) | Insufficient;

function prepareTransactions(l: Ledger) {
  const { sqlite } = l;

  const spend = sqlite.transaction((a: HoldArgs): Debit => {
    const replay = replayOf(l, a.key, a.userId, "usage", -a.cost);
    if (replay) return { ok: true, ...replay };
    const debited = l.debit.get(a.cost, a.now, a.userId, a.cost);
    if (!debited) return insufficientOrMissing(l, a.userId, a.cost);
    const transaction = l.insert.get({
      userId: a.userId,
      amount: -a.cost,
      type: "usage",
      status: a.post ? "posted" : "pending",
      key: a.key,
      description: a.description,
      stripePaymentId: null,
      balanceAfter: debited.credits,
      expiresAt: a.expiresAt,
      adminId: null,
      reason: null,
      meta: a.meta,
      createdAt: a.now,
      settledAt: a.post ? a.now : null,
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

  const sweep = sqlite.transaction((now: number, batch: number): number => {
    const due = l.expired.all(now, batch);
    for (const { id } of due) voidOne(id, "expired", now);
    return due.length;
  });

  const balance = sqlite.transaction((userId: number) => {
    const row = l.userCredits.get(userId);
    if (!row) throw new LedgerError("user_not_found", `user ${userId} not found`);
    return { balance: row.credits, onHold: l.onHold.get(userId)!.onHold };
  });

  return { spend, credit, guardedDebit, post, voidHold, sweep, balance };
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

// ---------------------------------------------------------------------------------------------
// Reads

export function getBalance(db: AppDb, userId: number): { balance: number; onHold: number } {
  // One read transaction, so both numbers come from the same snapshot.
  return ledgerOf(db).tx.balance.deferred(checkId(userId, "userId"));
}

export function checkBalance(db: AppDb, userId: number, cost: number): boolean {
  checkAmount(cost, "cost");
  checkId(userId, "userId");
  const row = ledgerOf(db).userCredits.get(userId);
  if (!row) throw new LedgerError("user_not_found", `user ${userId} not found`);
  return row.credits >= cost;
}

/** Keyset pagination, newest first. Pass the returned nextCursor to get the next page. */
export function listHistory(
  db: AppDb,
  opts: { userId: number; type?: TransactionType; cursor?: number | null; limit: number },
): { items: Tx[]; nextCursor: number | null } {
  const l = ledgerOf(db);
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

export function findPurchaseByPaymentId(db: AppDb, stripePaymentId: string): Tx | undefined {
  return ledgerOf(db).purchaseByPayment.get(stripePaymentId);
}

// ---------------------------------------------------------------------------------------------
// Metrics: every write is counted by operation and outcome (/metrics, ledger_writes_total).

type Outcome = Written | ({ ok: true } & Written) | Insufficient;

function counted<T extends Outcome>(op: string, result: T): T {
  const outcome = "replayed" in result ? (result.replayed ? "replayed" : "written") : "insufficient";
  incrementCounter("ledger_writes_total", { op, outcome });
  return result;
}

// ---------------------------------------------------------------------------------------------
// Writes

const GRANT_TYPES: ReadonlySet<string> = new Set<GrantType>(["purchase", "topup", "bonus"]);

/** Adds credits (a paid purchase, a topup, a bonus). Posted at once. */
export function grant(
  db: AppDb,
  args: { userId: number; amount: number; type: GrantType; key: string; description: string; stripePaymentId?: string | null; meta?: Meta },
): Written {
  const l = ledgerOf(db);
  if (!GRANT_TYPES.has(args.type)) throw new LedgerError("invalid_request", `grant type must be purchase, topup or bonus, got ${String(args.type)}`);
  return counted("grant", l.tx.credit.immediate({
    userId: checkId(args.userId, "userId"),
    amount: checkAmount(args.amount, "amount"),
    type: args.type,
    key: checkKey(args.key),
    description: checkText(args.description, "description"),
    stripePaymentId: args.stripePaymentId ?? null,
    adminId: null,
    reason: null,
    meta: encodeMeta(args.meta),
    createdAt: Date.now(),
  }));
}

/** Places a hold: the cost leaves the spendable balance now; post or void it later. The same key
 * returns the existing hold whatever its status. */
export function hold(
  db: AppDb,
  args: { userId: number; cost: number; key: string; description: string; ttlSeconds: number; meta?: Meta; now?: number },
): ({ ok: true } & Written) | Insufficient {
  const l = ledgerOf(db);
  const { ttlSeconds } = args;
  if (typeof ttlSeconds !== "number" || !Number.isFinite(ttlSeconds) || ttlSeconds <= 0 || ttlSeconds > 366 * 86_400) {
    throw new LedgerError("invalid_request", `ttlSeconds must be a positive number of seconds, got ${String(ttlSeconds)}`);
  }
  const now = args.now ?? Date.now();
  return counted("hold", l.tx.spend.immediate({
    userId: checkId(args.userId, "userId"),
    cost: checkAmount(args.cost, "cost"),
    key: checkKey(args.key),
    description: checkText(args.description, "description"),
    expiresAt: now + Math.ceil(ttlSeconds * 1000),
    meta: encodeMeta(args.meta),
    now,
    post: false,
  }));
}

/** Makes a hold final. Posting a posted hold is a replay; posting a voided one is refused. */
export function postHold(db: AppDb, holdId: number, now?: number): Written {
  const l = ledgerOf(db);
  return counted("post", l.tx.post.immediate(checkId(holdId, "holdId"), now ?? Date.now()));
}

/** Gives a hold's credits back. Voiding a voided hold is a replay; voiding a posted one is refused. */
export function voidHold(db: AppDb, holdId: number, reason: string, now?: number): Written {
  const l = ledgerOf(db);
  if (typeof reason !== "string" || reason.length === 0) throw new LedgerError("invalid_request", "a void reason is required");
  return counted("void", l.tx.voidHold.immediate(checkId(holdId, "holdId"), reason, now ?? Date.now()));
}

/** Hold and post in one transaction: for costs known to be final at once. */
export function deductCredits(
  db: AppDb,
  userId: number,
  cost: number,
  description: string,
  key?: string,
): ({ ok: true } & Written) | Insufficient {
  const l = ledgerOf(db);
  return counted("deduct", l.tx.spend.immediate({
    userId: checkId(userId, "userId"),
    cost: checkAmount(cost, "cost"),
    key: key === undefined ? `deduct:${randomUUID()}` : checkKey(key),
    description: checkText(description, "description"),
    expiresAt: null,
    meta: null,
    now: Date.now(),
    post: true,
  }));
}

/** An admin's correction, with who and why. Negative: a guarded debit (never below zero).
 * Positive: type 'adjustment' (a correction) or 'bonus' (an admin grant). */
export function adjust(
  db: AppDb,
  args: { userId: number; amount: number; adminId: number; reason: string; key: string; type?: "adjustment" | "bonus"; description?: string },
): ({ ok: true } & Written) | Insufficient {
  const l = ledgerOf(db);
  const type = args.type ?? "adjustment";
  if (type !== "adjustment" && type !== "bonus") throw new LedgerError("invalid_request", `adjust type must be adjustment or bonus, got ${String(type)}`);
  const amount = args.amount;
  if (typeof amount !== "number" || amount === 0) throw new LedgerError("invalid_amount", `amount must be a non-zero integer, got ${String(amount)}`);
  checkAmount(Math.abs(amount), "amount");
  if (type === "bonus" && amount < 0) throw new LedgerError("invalid_amount", "a bonus must be positive");
  const reason = typeof args.reason === "string" ? args.reason.trim() : "";
  if (!reason) throw new LedgerError("invalid_request", "an adjustment needs a reason");
  const row = {
    userId: checkId(args.userId, "userId"),
    amount,
    type,
    key: checkKey(args.key),
    description: checkText(args.description ?? (type === "bonus" ? "Bonus credits" : "Balance adjustment"), "description"),
    stripePaymentId: null,
    adminId: checkId(args.adminId, "adminId"),
    reason,
    meta: null,
    createdAt: Date.now(),
  };
  return counted("adjust", amount > 0 ? { ok: true, ...l.tx.credit.immediate(row) } : l.tx.guardedDebit.immediate(row));
}

/** Takes credits back after a refunded or disputed payment (type 'refund', negative amount).
 * Unlike spending it is not guarded: the money is already gone, so the balance may go below zero
 * and spending is refused until it is positive again. */
export function clawback(
  db: AppDb,
  args: { userId: number; amount: number; key: string; description: string; stripePaymentId?: string | null; meta?: Meta },
): Written {
  const l = ledgerOf(db);
  return counted("clawback", l.tx.credit.immediate({
    userId: checkId(args.userId, "userId"),
    amount: -checkAmount(args.amount, "amount"),
    type: "refund",
    key: checkKey(args.key),
    description: checkText(args.description, "description"),
    stripePaymentId: args.stripePaymentId ?? null,
    adminId: null,
    reason: null,
    meta: encodeMeta(args.meta),
    createdAt: Date.now(),
  }));
}

/** Voids every pending hold whose timeout has passed (reason 'expired'). Returns how many.
 * Works in batches so a large backlog never holds the write lock for long. */
export function sweepExpiredHolds(db: AppDb, now?: number, batchSize = 200): number {
  const l = ledgerOf(db);
  const at = now ?? Date.now();
  let total = 0;
  for (;;) {
    const n = l.tx.sweep.immediate(at, batchSize);
    total += n;
    if (n < batchSize) return total;
  }
}

/** The void record voidHold stored in a voided row's meta, if any. */
export function voidRecordOf(tx: Pick<Tx, "meta">): VoidRecord | undefined {
  const meta = parseMeta(tx.meta);
  if (typeof meta.voidReason !== "string" || typeof meta.voidBalanceAfter !== "number" || typeof meta.voidAfterId !== "number") {
    return undefined;
  }
  return { voidReason: meta.voidReason, voidBalanceAfter: meta.voidBalanceAfter, voidAfterId: meta.voidAfterId };
}
