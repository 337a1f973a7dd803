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
 * Every write runs inside BEGIN IMMEDIATE, carries the caller's idempotency key, and uses
 * prepared statements cached per connection (ledger-sql.server.ts: no query building on any path;
 * rows are read with column aliases straight into drizzle's row type, so callers get the same `Tx`
 * as from drizzle). Keys are formed in ledger-keys.server.ts.
 * Why it is built this way: docs/decisions/003-ledger-two-phase-holds.md.
 */
import type { AppDb } from "../../../db/client.server";
import type { TransactionType } from "../../../db/schema";
import { utcMonthStart } from "../../utils/time";
import { incrementCounter } from "../metrics.server";
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
import { ledgerOf } from "./ledger-sql.server";

export { findByKey, findPurchaseByPaymentId, getBalance, grantLeftOf, grantsOfRows, holdStatus, keySpendThisMonth, listHistory, type Balance } from "./ledger-reads.server";
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
export function grant(
  db: AppDb,
  args: SystemWrite & { amount: number; type: GrantType; expiresAt?: number | null },
): Written {
  const l = ledgerOf(db);
  if (!GRANT_TYPES.has(args.type)) throw new LedgerError("invalid_request", `grant type must be purchase, topup, bonus, plan or redeem, got ${String(args.type)}`);
  const now = checkTime(args.now ?? Date.now(), "now");
  const row = systemRow(args, args.type, checkAmount(args.amount, "amount"), now);
  return counted("grant", l.tx.credit.immediate(row, checkExpiry(args.expiresAt, now)));
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
export function hold(db: AppDb, args: HoldInput & { apiKey?: null }): ({ ok: true } & Written) | Insufficient;
export function hold(db: AppDb, args: HoldInput & { apiKey?: SpendingKey | null }): ({ ok: true } & Written) | Insufficient | KeyLimitReached;
export function hold(db: AppDb, args: HoldInput & { apiKey?: SpendingKey | null }): ({ ok: true } & Written) | Insufficient | KeyLimitReached {
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
    apiKey: checkSpendingKey(args.apiKey, now),
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

/** An admin's correction, with who and why. Negative: a guarded debit (never below zero).
 * Positive: type 'adjustment' (a correction) or 'bonus' (an admin grant). */
export function adjust(
  db: AppDb,
  args: {
    userId: number; amount: number; adminId: number; reason: string; key: string; type?: "adjustment" | "bonus"; description?: string;
    /** Positive only: when the credits granted expire (null or omitted: never). */
    expiresAt?: number | null;
    now?: number;
  },
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
  return counted("adjust", amount > 0 ? { ok: true, ...l.tx.credit.immediate(row, expiresAt) } : l.tx.guardedDebit.immediate(row));
}

/** Takes credits back after a refunded or disputed payment (type 'refund', negative amount).
 * Unlike spending it is not guarded: the money is already gone, so the balance may go below zero
 * and spending is refused until it is positive again. It takes first from the grant the purchase
 * opened (`purchaseTransactionId`, or the purchase found by `stripePaymentId`), then from the other
 * live grants in spending order, and the rest from the user's debt grant. */
export function clawback(
  db: AppDb,
  args: SystemWrite & { amount: number; purchaseTransactionId?: number },
): Written {
  const l = ledgerOf(db);
  const now = checkTime(args.now ?? Date.now(), "now");
  const purchase = args.purchaseTransactionId === undefined ? null : checkId(args.purchaseTransactionId, "purchaseTransactionId");
  return counted("clawback", l.tx.clawback.immediate(systemRow(args, "refund", -checkAmount(args.amount, "amount"), now), purchase));
}

/** Gives back everything one clawback took (a dispute won, its funds reinstated): a posted
 * `refund` row with a positive amount and `meta.reverses` naming the clawback's key. The same key
 * again is a replay; the amount is always the clawback's own, so it can never give back more. */
export function reverseClawback(
  db: AppDb,
  args: { reversesKey: string; key: string; description: string; meta?: Meta; now?: number },
): Written {
  const l = ledgerOf(db);
  return counted("reverse", l.tx.reverse.immediate(checkKey(args.reversesKey), {
    key: checkKey(args.key),
    description: checkText(args.description, "description"),
    adminId: null,
    reason: null,
    meta: encodeMeta(args.meta),
    createdAt: checkTime(args.now ?? Date.now(), "now"),
  }));
}

/** A hold's timeout is never extended past this long after it was placed: a job that keeps
 * reporting progress for a day is stuck, and its credits go back. */
export const MAX_HOLD_LIFETIME_MS = 24 * 60 * 60 * 1000;

/**
 * Moves a pending hold's timeout forward to `expiresAt` (a long job that is still making
 * progress). Never backwards, never past MAX_HOLD_LIFETIME_MS after the hold was placed, and only
 * while the hold is pending: `extended` is false when nothing changed.
 */
export function extendHold(db: AppDb, holdId: number, expiresAt: number): { extended: boolean; transaction: Tx } {
  const l = ledgerOf(db);
  if (typeof expiresAt !== "number" || !Number.isSafeInteger(expiresAt) || expiresAt <= 0) {
    throw new LedgerError("invalid_request", `expiresAt must be a time in milliseconds, got ${String(expiresAt)}`);
  }
  const result = l.tx.extend.immediate(checkId(holdId, "holdId"), expiresAt, MAX_HOLD_LIFETIME_MS);
  incrementCounter("ledger_writes_total", { op: "extend", outcome: result.extended ? "written" : "unchanged" });
  return result;
}

export type SweepOptions = {
  /** Holds voided per transaction, so a large backlog never holds the write lock for long. */
  batchSize?: number;
  /** Called for each hold this sweep voids, INSIDE its SQLite transaction: the caller's writes
   * (the generation job the hold paid for) commit with the void, or neither does. */
  onVoided?: (hold: Tx) => void;
};

/** Voids every pending hold whose timeout has passed (reason 'expired'). Returns how many. */
export function sweepExpiredHolds(db: AppDb, now?: number, options: SweepOptions = {}): number {
  const l = ledgerOf(db);
  const at = now ?? Date.now();
  const batchSize = options.batchSize ?? 200;
  let total = 0;
  for (;;) {
    const n = l.tx.sweep.immediate(at, batchSize, options.onVoided);
    total += n;
    if (n < batchSize) return total;
  }
}

/**
 * Closes every grant past its expiry: one `expire` row (−its unspent rest, meta.grantId) each,
 * in batches so a backlog never holds the write lock for long. Returns how many grants it closed.
 * Spending already ignores expired grants; this makes the ledger's rows say so.
 */
export function expireDueGrants(db: AppDb, now?: number, options: { batchSize?: number } = {}): number {
  const l = ledgerOf(db);
  const at = checkTime(now ?? Date.now(), "now");
  const batchSize = options.batchSize ?? 200;
  let total = 0;
  for (;;) {
    const n = l.tx.expireGrants.immediate(at, batchSize);
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
export function closeGrant(db: AppDb, args: { sourceTxId: number; now?: number }): { expired: number } {
  const l = ledgerOf(db);
  const expired = l.tx.closeGrant.immediate(checkId(args.sourceTxId, "sourceTxId"), checkTime(args.now ?? Date.now(), "now"));
  incrementCounter("ledger_writes_total", { op: "close_grant", outcome: expired > 0 ? "written" : "unchanged" });
  return { expired };
}
