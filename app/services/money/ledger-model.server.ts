/**
 * The ledger's vocabulary as types, its error, and the small codecs its rows need. No SQL here:
 * ledger-sql.server.ts runs the statements, ledger.server.ts is the API everyone calls.
 */
import type { transactions, TransactionType } from "../../../db/schema";

export type Tx = typeof transactions.$inferSelect;
/** `replayed: true` means the key already existed: nothing changed, this is the first result. */
export type Written = { transaction: Tx; replayed: boolean };
export type Insufficient = { ok: false; reason: "insufficient_credits"; balance: number; needed: number };
/** A hold through an API key that would take the key past its monthly credit limit. */
export type KeyLimitReached = { ok: false; reason: "key_limit_reached"; limit: number; spentThisMonth: number; needed: number };

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

export type GrantType = Extract<TransactionType, "purchase" | "topup" | "bonus" | "plan" | "redeem">;
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

export function encodeMeta(meta: Meta | undefined): string | null {
  return meta === undefined ? null : JSON.stringify(meta);
}

export function parseMeta(meta: string | null): Meta {
  if (!meta) return {};
  try {
    const parsed: unknown = JSON.parse(meta);
    return parsed && typeof parsed === "object" && !Array.isArray(parsed) ? (parsed as Meta) : { value: parsed };
  } catch {
    return { raw: meta };
  }
}

export function voidRecordOf(tx: Pick<Tx, "meta">): VoidRecord | undefined {
  const meta = parseMeta(tx.meta);
  if (typeof meta.voidReason !== "string" || typeof meta.voidBalanceAfter !== "number" || typeof meta.voidAfterId !== "number") {
    return undefined;
  }
  return { voidReason: meta.voidReason, voidBalanceAfter: meta.voidBalanceAfter, voidAfterId: meta.voidAfterId };
}

// Argument checks: every public ledger function runs them before it touches the database.

export function checkAmount(value: unknown, what: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value <= 0 || value > MAX_AMOUNT) {
    throw new LedgerError("invalid_amount", `${what} must be an integer between 1 and ${MAX_AMOUNT}, got ${String(value)}`);
  }
  return value;
}

export function checkKey(key: unknown): string {
  if (typeof key !== "string" || key.length === 0 || key.length > 255) {
    throw new LedgerError("invalid_request", "an idempotency key (1-255 characters) is required");
  }
  return key;
}

export function checkId(id: unknown, what: string): number {
  if (typeof id !== "number" || !Number.isSafeInteger(id) || id <= 0) {
    throw new LedgerError("invalid_request", `${what} must be a positive integer id, got ${String(id)}`);
  }
  return id;
}

export function checkText(value: unknown, what: string): string {
  if (typeof value !== "string") throw new LedgerError("invalid_request", `${what} must be a string`);
  return value;
}


export function checkTime(value: unknown, what: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value <= 0) {
    throw new LedgerError("invalid_request", `${what} must be a time in milliseconds, got ${String(value)}`);
  }
  return value;
}

/** A grant's expiry: null or omitted for never, else a time after `now` (a grant that is born
 * expired would be a credit nobody can ever spend). */
export function checkExpiry(value: unknown, now: number): number | null {
  if (value === undefined || value === null) return null;
  if (checkTime(value, "expiresAt") <= now) {
    throw new LedgerError("invalid_request", `expiresAt must be after now (${now}), got ${String(value)}`);
  }
  return value as number;
}
