/**
 * The credits ledger: the ONLY code that writes `users.credits` and `transactions`.
 *
 * Vocabulary (one word per money state, as in TigerBeetle):
 * - a *grant* adds credits (purchase, topup, bonus) and is posted at once;
 * - a *hold* is a `usage` row that is *pending*: its cost is already taken from the spendable
 *   balance; it has a *timeout* (`expires_at`);
 * - *posting* a hold makes it final; *voiding* it gives the credits back (the row stays, marked
 *   voided, and no longer counts);
 * - a *clawback* is a `refund` row taking credits back after a refunded or disputed payment; its
 *   *reversal* (a dispute won) is a positive `refund` row naming the clawback in meta.reverses.
 *
 * - every credit that arrives is a *grant* (credit_grants: amount, remaining, optional expiry);
 *   spending draws from live grants, soonest expiry first, and records its draws (grant_draws);
 *   an *expiry* closes a grant with an `expire` row for its unspent rest (expireDueGrants), or
 *   earlier, when a paid subscription renewal ends the period it lasted (closeGrant, decision 023).
 *
 * Invariants (checked by ledger-verify.server.ts and by the tests after every step):
 *   users.credits == SUM(amount) of the user's rows with status in ('pending', 'posted')
 *                 == SUM(remaining) of the user's unclosed grants;
 *   the spendable balance (getBalance) == SUM(remaining) of LIVE grants: an expired credit is
 *   never spendable, whether or not its expire row has been written yet.
 *
 * Every write is one transaction of the SQL executor (db/sql.server.ts: on SQLite BEGIN IMMEDIATE,
 * with group commit; on PostgreSQL a pooled transaction whose guarded debit locks the user's row),
 * or runs inside the transaction of a caller's write body, in a savepoint of its own (pass the
 * body's `tx`). It carries the caller's idempotency key, and its SQL is one text for both engines
 * (ledger-sql.server.ts: no query building on any path; rows are read with column aliases straight
 * into drizzle's row type, so callers get the same `Tx` as from drizzle). The reads are synchronous
 * on the app's SQLite connection for now (decision 036). Keys are formed in ledger-keys.server.ts.
 * Why it is built this way: docs/decisions/003-ledger-two-phase-holds.md.
 */
import type { AppDb, PortableDb } from "../../../db/client.server";
import type { SqlDb, SqlRunner } from "../../../db/sql.server";
import type { TransactionType } from "../../../db/schema";
import { utcMonthStart } from "../../utils/time";
import { incrementCounter } from "../metrics.server";
import { isUniqueViolation } from "../sql-target.server";
import {
  checkAmount,
  checkId,
  checkKey,
  checkExpiry,
  checkText,
  checkTime,
  encodeMeta,
  LedgerError,
  MAX_AMOUNT,
  type GrantType,
  type Insufficient,
  type KeyLimitReached,
  type Meta,
  type Tx,
  type Written,
} from "./ledger-model.server";
import { ledgerIn } from "./ledger-writes.server";

export {
  findByKey,
  findPurchaseByPaymentId,
  getBalance,
  grantLeftOf,
  grantsOfRows,
  holdStatus,
  keySpendThisMonth,
  listHistory,
  readBalance,
  readSpendableBalance,
  readByKey,
  readGrantLeft,
  readGrantsOfRows,
  readHistory,
  readHoldStatus,
  readKeySpendThisMonth,
  readPurchaseByPaymentId,
  type Balance,
} from "./ledger-reads.server";
export {
  LedgerError,
  MAX_AMOUNT,
  voidRecordOf,
  type GrantType,
  type Insufficient,
  type KeyLimitReached,
  type LedgerErrorCode,
  type Meta,
  type Tx,
  type VoidRecord,
  type Written,
} from "./ledger-model.server";

// ---------------------------------------------------------------------------------------------
// Metrics: every write is counted by operation and outcome (/metrics, ledger_writes_total).

type Outcome = Written | ({ ok: true } & Written) | Insufficient | KeyLimitReached;

function counted<T extends Outcome>(op: string, result: T): T {
  const refusal = (r: Insufficient | KeyLimitReached) => (r.reason === "insufficient_credits" ? "insufficient" : "key_limit");
  const outcome = "replayed" in result ? (result.replayed ? "replayed" : "written") : refusal(result);
  incrementCounter("ledger_writes_total", { op, outcome });
  return result;
}

// ---------------------------------------------------------------------------------------------
// Writes

/** Where a write runs: the app's database or an executor (a transaction of its own), or the `tx`
 * of a caller's write body (inside that transaction, so the caller's rows commit with it). */
export type LedgerTarget = PortableDb | SqlDb | SqlRunner;

type Operations = ReturnType<typeof ledgerIn>;

function inWrite<T>(target: LedgerTarget, body: (ops: Operations) => Promise<T>): Promise<T> {
  if ("sql" in target) return ownWrite(target.sql, body);
  if ("write" in target) return ownWrite(target, body);
  return inSavepoint(target, () => body(ledgerIn(target)));
}

/** A write in a transaction of its own. On PostgreSQL two of them writing one NEW idempotency key
 * at once both find no row, and the second meets the unique index at its INSERT (SQLite's serial
 * writes never get there): run again, it finds the first's row and answers its replay, as every
 * other repeat of a key does. Inside a caller's body this cannot be done here (the failed
 * statement aborts the caller's transaction on PostgreSQL): the caller retries the whole body. */
async function ownWrite<T>(db: SqlDb, body: (ops: Operations) => Promise<T>): Promise<T> {
  try {
    return await db.write((tx) => body(ledgerIn(tx)));
  } catch (error) {
    if (!isUniqueViolation(error)) throw error;
    return db.write((tx) => body(ledgerIn(tx)));
  }
}

/** Inside a caller's transaction a refused or failed write leaves nothing behind, even when the
 * caller catches the error and goes on. */
async function inSavepoint<T>(tx: SqlRunner, body: () => Promise<T>): Promise<T> {
  await tx.run("SAVEPOINT ledger_write");
  try {
    const value = await body();
    await tx.run("RELEASE ledger_write");
    return value;
  } catch (error) {
    await tx.run("ROLLBACK TO ledger_write");
    await tx.run("RELEASE ledger_write");
    throw error;
  }
}

const GRANT_TYPES: ReadonlySet<string> = new Set<GrantType>(["purchase", "topup", "bonus", "plan", "redeem"]);

type SystemWrite = { userId: number; key: string; description: string; stripePaymentId?: string | null; meta?: Meta; now?: number };

/** A posted row written by the app itself (no admin, no reason), its arguments checked. */
function systemRow(args: SystemWrite, type: TransactionType, amount: number, now: number) {
  return {
    userId: checkId(args.userId, "userId"),
    amount,
    type,
    key: checkKey(args.key),
    description: checkText(args.description, "description"),
    stripePaymentId: args.stripePaymentId ?? null,
    adminId: null,
    reason: null,
    meta: encodeMeta(args.meta),
    createdAt: now,
  };
}

/** Adds credits (a paid purchase, a topup, a bonus, a plan period, a redeemed code): a posted row and its grant, which expires
 * at `expiresAt` (milliseconds; omitted or null: never). A replay returns the first row whatever
 * expiry it is asked for. */
export async function grant(
  db: LedgerTarget,
  args: SystemWrite & { amount: number; type: GrantType; expiresAt?: number | null },
): Promise<Written> {
  if (!GRANT_TYPES.has(args.type)) throw new LedgerError("invalid_request", `grant type must be purchase, topup, bonus, plan or redeem, got ${String(args.type)}`);
  const now = checkTime(args.now ?? Date.now(), "now");
  const row = systemRow(args, args.type, checkAmount(args.amount, "amount"), now);
  const expiresAt = checkExpiry(args.expiresAt, now);
  return counted("grant", await inWrite(db, (l) => l.credit(row, expiresAt)));
}

/** The API key a hold is spent through: its id and its monthly credit limit (null: none). */
export type SpendingKey = { id: number; monthlyLimit: number | null };

function checkSpendingKey(key: SpendingKey | null | undefined, now: number) {
  if (!key) return null;
  const limit = key.monthlyLimit;
  if (limit !== null && (typeof limit !== "number" || !Number.isSafeInteger(limit) || limit <= 0 || limit > MAX_AMOUNT)) {
    throw new LedgerError("invalid_amount", `a key's monthly limit must be an integer between 1 and ${MAX_AMOUNT} or null, got ${String(limit)}`);
  }
  return { id: checkId(key.id, "apiKey.id"), monthlyLimit: limit, monthStart: utcMonthStart(now) };
}

/** Places a hold: the cost leaves the spendable balance now; post or void it later. The same key
 * returns the existing hold whatever its status. Through an API key (`apiKey`) the row records the
 * key, and a hold that would take the key past its monthly limit is refused (key_limit_reached). */
type HoldInput = { userId: number; cost: number; key: string; description: string; ttlSeconds: number; meta?: Meta; now?: number };
export function hold(db: LedgerTarget, args: HoldInput & { apiKey?: null }): Promise<({ ok: true } & Written) | Insufficient>;
export function hold(db: LedgerTarget, args: HoldInput & { apiKey?: SpendingKey | null }): Promise<({ ok: true } & Written) | Insufficient | KeyLimitReached>;
export async function hold(db: LedgerTarget, args: HoldInput & { apiKey?: SpendingKey | null }): Promise<({ ok: true } & Written) | Insufficient | KeyLimitReached> {
  const { ttlSeconds } = args;
  if (typeof ttlSeconds !== "number" || !Number.isFinite(ttlSeconds) || ttlSeconds <= 0 || ttlSeconds > 366 * 86_400) {
    throw new LedgerError("invalid_request", `ttlSeconds must be a positive number of seconds, got ${String(ttlSeconds)}`);
  }
  const now = args.now ?? Date.now();
  const spend = {
    userId: checkId(args.userId, "userId"),
    cost: checkAmount(args.cost, "cost"),
    key: checkKey(args.key),
    description: checkText(args.description, "description"),
    expiresAt: now + Math.ceil(ttlSeconds * 1000),
    meta: encodeMeta(args.meta),
    now,
    apiKey: checkSpendingKey(args.apiKey, now),
  };
  return counted("hold", await inWrite(db, (l) => l.spend(spend)));
}


/** Makes a hold final. Posting a posted hold is a replay; posting a voided one is refused. */
export async function postHold(db: LedgerTarget, holdId: number, now?: number): Promise<Written> {
  const id = checkId(holdId, "holdId");
  const at = now ?? Date.now();
  return counted("post", await inWrite(db, (l) => l.post(id, at)));
}

/** Gives a hold's credits back. Voiding a voided hold is a replay; voiding a posted one is refused. */
export async function voidHold(db: LedgerTarget, holdId: number, reason: string, now?: number): Promise<Written> {
  if (typeof reason !== "string" || reason.length === 0) throw new LedgerError("invalid_request", "a void reason is required");
  const id = checkId(holdId, "holdId");
  const at = now ?? Date.now();
  return counted("void", await inWrite(db, (l) => l.voidHold(id, reason, at)));
}

/** An admin's correction, with who and why. Negative: a guarded debit (never below zero).
 * Positive: type 'adjustment' (a correction) or 'bonus' (an admin grant). */
export async function adjust(
  db: LedgerTarget,
  args: {
    userId: number; amount: number; adminId: number; reason: string; key: string; type?: "adjustment" | "bonus"; description?: string;
    /** Positive only: when the credits granted expire (null or omitted: never). */
    expiresAt?: number | null;
    now?: number;
  },
): Promise<({ ok: true } & Written) | Insufficient> {
  const type = args.type ?? "adjustment";
  if (type !== "adjustment" && type !== "bonus") throw new LedgerError("invalid_request", `adjust type must be adjustment or bonus, got ${String(type)}`);
  const amount = args.amount;
  if (typeof amount !== "number" || amount === 0) throw new LedgerError("invalid_amount", `amount must be a non-zero integer, got ${String(amount)}`);
  checkAmount(Math.abs(amount), "amount");
  if (type === "bonus" && amount < 0) throw new LedgerError("invalid_amount", "a bonus must be positive");
  const reason = typeof args.reason === "string" ? args.reason.trim() : "";
  if (!reason) throw new LedgerError("invalid_request", "an adjustment needs a reason");
  const now = checkTime(args.now ?? Date.now(), "now");
  const expiresAt = checkExpiry(args.expiresAt, now);
  if (amount < 0 && expiresAt !== null) throw new LedgerError("invalid_request", "only credits given can expire");
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
    createdAt: now,
  };
  return counted("adjust", await inWrite(db, async (l) => (amount > 0 ? { ok: true as const, ...(await l.credit(row, expiresAt)) } : l.guardedDebit(row))));
}

/** Takes credits back after a refunded or disputed payment (type 'refund', negative amount).
 * Unlike spending it is not guarded: the money is already gone, so the balance may go below zero
 * and spending is refused until it is positive again. It takes first from the grant the purchase
 * opened (`purchaseTransactionId`, or the purchase found by `stripePaymentId`), then from the other
 * live grants in spending order, and the rest from the user's debt grant. */
export async function clawback(
  db: LedgerTarget,
  args: SystemWrite & { amount: number; purchaseTransactionId?: number },
): Promise<Written> {
  const now = checkTime(args.now ?? Date.now(), "now");
  const purchase = args.purchaseTransactionId === undefined ? null : checkId(args.purchaseTransactionId, "purchaseTransactionId");
  const row = systemRow(args, "refund", -checkAmount(args.amount, "amount"), now);
  return counted("clawback", await inWrite(db, (l) => l.clawback(row, purchase)));
}

/** Gives back everything one clawback took (a dispute won, its funds reinstated): a posted
 * `refund` row with a positive amount and `meta.reverses` naming the clawback's key. The same key
 * again is a replay; the amount is always the clawback's own, so it can never give back more. */
export async function reverseClawback(
  db: LedgerTarget,
  args: { reversesKey: string; key: string; description: string; meta?: Meta; now?: number },
): Promise<Written> {
  const reversesKey = checkKey(args.reversesKey);
  const row = {
    key: checkKey(args.key),
    description: checkText(args.description, "description"),
    adminId: null,
    reason: null,
    meta: encodeMeta(args.meta),
    createdAt: checkTime(args.now ?? Date.now(), "now"),
  };
  return counted("reverse", await inWrite(db, (l) => l.reverse(reversesKey, row)));
}

/** A hold's timeout is never extended past this long after it was placed: a job that keeps
 * reporting progress for a day is stuck, and its credits go back. */
export const MAX_HOLD_LIFETIME_MS = 24 * 60 * 60 * 1000;

/**
 * Moves a pending hold's timeout forward to `expiresAt` (a long job that is still making
 * progress). Never backwards, never past MAX_HOLD_LIFETIME_MS after the hold was placed, and only
 * while the hold is pending: `extended` is false when nothing changed.
 */
export async function extendHold(db: LedgerTarget, holdId: number, expiresAt: number): Promise<{ extended: boolean; transaction: Tx }> {
  if (typeof expiresAt !== "number" || !Number.isSafeInteger(expiresAt) || expiresAt <= 0) {
    throw new LedgerError("invalid_request", `expiresAt must be a time in milliseconds, got ${String(expiresAt)}`);
  }
  const id = checkId(holdId, "holdId");
  const result = await inWrite(db, (l) => l.extend(id, expiresAt, MAX_HOLD_LIFETIME_MS));
  incrementCounter("ledger_writes_total", { op: "extend", outcome: result.extended ? "written" : "unchanged" });
  return result;
}

export type SweepOptions = {
  /** Holds voided per transaction, so a large backlog never holds the write lock for long. */
  batchSize?: number;
  /** Called for each hold this sweep voids, INSIDE its transaction (`tx`): the caller's writes
   * (the generation job the hold paid for) commit with the void, or neither does. */
  onVoided?: (hold: Tx, tx: SqlRunner) => void | Promise<void>;
};

/** Voids every pending hold whose timeout has passed (reason 'expired'). Returns how many. */
export async function sweepExpiredHolds(db: AppDb | SqlDb, now?: number, options: SweepOptions = {}): Promise<number> {
  const at = now ?? Date.now();
  const batchSize = options.batchSize ?? 200;
  let total = 0;
  for (;;) {
    const { due, voided } = await inWrite(db, (l) => l.sweep(at, batchSize, options.onVoided));
    total += voided;
    if (due < batchSize) return total;
  }
}

/**
 * Closes every grant past its expiry: one `expire` row (−its unspent rest, meta.grantId) each,
 * in batches so a backlog never holds the write lock for long. Returns how many grants it closed.
 * Spending already ignores expired grants; this makes the ledger's rows say so.
 */
export async function expireDueGrants(db: AppDb | SqlDb, now?: number, options: { batchSize?: number } = {}): Promise<number> {
  const at = checkTime(now ?? Date.now(), "now");
  const batchSize = options.batchSize ?? 200;
  let total = 0;
  for (;;) {
    const n = await inWrite(db, (l) => l.expireGrants(at, batchSize));
    total += n;
    incrementCounter("ledger_writes_total", { op: "expire", outcome: n > 0 ? "written" : "unchanged" });
    if (n < batchSize) return total;
  }
}

/**
 * Closes the grant that row `sourceTxId` opened, now, before its expiry (a subscription period
 * that a paid renewal ended): its unspent rest gets its own `expire` row (key grant-expiry:<grant>,
 * the same as a due expiry, so the two can never both write). Returns the rest its expire row
 * took: now, or, for a grant closed already (by the sweep at its expiry, or an earlier call),
 * then; 0 for a spent grant or a row that opened none. Calling it again changes nothing.
 */
export async function closeGrant(db: LedgerTarget, args: { sourceTxId: number; now?: number }): Promise<{ expired: number }> {
  const sourceTxId = checkId(args.sourceTxId, "sourceTxId");
  const now = checkTime(args.now ?? Date.now(), "now");
  const expired = await inWrite(db, (l) => l.closeGrant(sourceTxId, now));
  incrementCounter("ledger_writes_total", { op: "close_grant", outcome: expired > 0 ? "written" : "unchanged" });
  return { expired };
}
