/**
 * The ledger's SQLite transactions, built from the statements of ledger-sql.server.ts and the
 * grant operations of ledger-grants.server.ts. Only ledger.server.ts runs these (always with
 * .immediate(), BEGIN IMMEDIATE), after validating every argument.
 *
 * Spending (a hold, a negative adjustment) takes credits in three steps, in this order: refuse
 * unless the SPENDABLE balance (live grants only) covers the cost; the guarded UPDATE of
 * users.credits (a second line of defence); the row, then its draws from the grants.
 */
import type { GrantKind, TransactionType } from "../../../db/schema";
import { ledgerKeys } from "./ledger-keys.server";
import { LedgerError, parseMeta, type Insufficient, type KeyLimitReached, type Tx, type VoidRecord, type Written } from "./ledger-model.server";
import type { InsertRow, Ledger } from "./ledger-sql.server";

// Only holds are spent through a key, so a posted row never names one.
export type PostedArgs = Omit<InsertRow, "status" | "balanceAfter" | "expiresAt" | "settledAt" | "apiKeyId">;
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

function requireUser(l: Ledger, userId: number, what = "user"): void {
  if (!l.userCredits.get(userId)) throw new LedgerError("user_not_found", `${what} ${userId} not found`);
}

/** A refusal reports the SPENDABLE balance (live grants), the one the user can act on. */
function insufficient(l: Ledger, userId: number, spendable: number, needed: number): Insufficient {
  requireUser(l, userId);
  return { ok: false, reason: "insufficient_credits", balance: spendable, needed };
}

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

/** The key's monthly limit, read inside the hold's own write transaction, so parallel holds
 * through one key are counted one after the other and can never pass it together. */
function keyLimitRefusal(l: Ledger, a: HoldArgs): KeyLimitReached | undefined {
  if (!a.apiKey || a.apiKey.monthlyLimit === null) return undefined;
  const spentThisMonth = l.keySpend.get(a.apiKey.id, a.apiKey.monthStart)!.spent;
  if (spentThisMonth + a.cost <= a.apiKey.monthlyLimit) return undefined;
  return { ok: false, reason: "key_limit_reached", limit: a.apiKey.monthlyLimit, spentThisMonth, needed: a.cost };
}

/** What kind of grant a positive row opens. */
function kindOf(row: PostedArgs): GrantKind {
  switch (row.type) {
    case "purchase":
    case "topup":
    case "plan":
    case "redeem":
      return row.type;
    case "bonus":
      return row.adminId === null ? "bonus" : "admin";
    case "adjustment":
      return "admin";
    case "refund":
      return "reversal";
    default:
      throw new LedgerError("invalid_request", `a ${row.type} row opens no grant`);
  }
}

export function prepareTransactions(l: Ledger) {
  const { sqlite, grants } = l;

  /** Spending's three steps (see the file comment); the draws need the row's id. */
  const debitAndDraw = (userId: number, cost: number, now: number, row: (balanceAfter: number) => InsertRow): Debit => {
    const live = grants.live(userId, now);
    if (live.spendable < cost) return insufficient(l, userId, live.spendable, cost);
    const debited = l.debit.get(cost, now, userId, cost);
    if (!debited) return insufficient(l, userId, live.spendable, cost);
    const transaction = l.insert.get(row(debited.credits))!;
    grants.drawInOrder(transaction.id, live.grants, cost);
    return { ok: true, transaction, replayed: false };
  };

  const spend = sqlite.transaction((a: HoldArgs): Debit | KeyLimitReached => {
    const replay = replayOf(l, a.key, a.userId, "usage", -a.cost);
    if (replay) return { ok: true, ...replay };
    const overLimit = keyLimitRefusal(l, a);
    if (overLimit) return overLimit;
    return debitAndDraw(a.userId, a.cost, a.now, (balanceAfter) => ({
      userId: a.userId,
      amount: -a.cost,
      type: "usage",
      status: "pending",
      key: a.key,
      description: a.description,
      stripePaymentId: null,
      balanceAfter,
      expiresAt: a.expiresAt,
      adminId: null,
      reason: null,
      meta: a.meta,
      createdAt: a.now,
      settledAt: null,
      apiKeyId: a.apiKey?.id ?? null,
    }));
  });

  /** A positive posted row and the grant it opens (grants, positive adjustments, reversals). */
  const credit = sqlite.transaction((row: PostedArgs, expiresAt: number | null): Written => {
    const replay = replayOf(l, row.key, row.userId, row.type, row.amount);
    if (replay) return replay;
    if (row.adminId !== null) requireUser(l, row.adminId, "admin");
    const changed = l.change.get(row.amount, row.createdAt, row.userId);
    if (!changed) throw new LedgerError("user_not_found", `user ${row.userId} not found`);
    const transaction = l.insert.get(postedRow(row, changed.credits))!;
    grants.open({ userId: row.userId, sourceTxId: transaction.id, kind: kindOf(row), amount: row.amount, expiresAt, now: row.createdAt });
    return { transaction, replayed: false };
  });

  /** A clawback (negative refund row): unguarded, taken from the purchase's own grant first. */
  const clawback = sqlite.transaction((row: PostedArgs, purchaseTxId: number | null): Written => {
    const replay = replayOf(l, row.key, row.userId, row.type, row.amount);
    if (replay) return replay;
    const changed = l.change.get(row.amount, row.createdAt, row.userId);
    if (!changed) throw new LedgerError("user_not_found", `user ${row.userId} not found`);
    const transaction = l.insert.get(postedRow(row, changed.credits))!;
    const purchase = purchaseTxId ?? (row.stripePaymentId ? (l.purchaseByPayment.get(row.stripePaymentId)?.id ?? null) : null);
    grants.claw(transaction.id, row.userId, -row.amount, purchase, row.createdAt);
    return { transaction, replayed: false };
  });

  /** Gives back what one clawback took, once: a posted refund row of the opposite sign that
   * names the clawback in meta.reverses (the verifier checks the pair), as a grant that never
   * expires. */
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
    }, null);
  });

  /** A guarded debit that is final at once (negative admin adjustment). */
  const guardedDebit = sqlite.transaction((row: PostedArgs): Debit => {
    const replay = replayOf(l, row.key, row.userId, row.type, row.amount);
    if (replay) return { ok: true, ...replay };
    if (row.adminId !== null) requireUser(l, row.adminId, "admin");
    return debitAndDraw(row.userId, -row.amount, row.createdAt, (balanceAfter) => postedRow(row, balanceAfter));
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
    // After the void record: any `expire` row this writes sits after the void in the history.
    grants.giveBack(holdId, hold.userId, -hold.amount, now, {
      expiry: ledgerKeys.grantExpiry,
      afterClose: (grantId) => ledgerKeys.grantExpiryAfterVoid(grantId, holdId),
    });
    return { transaction: voided, replayed: false };
  };

  const voidHold = sqlite.transaction(voidOne);

  // onVoided runs inside this transaction: what it writes commits with the void, or neither does.
  const sweep = sqlite.transaction((now: number, batch: number, onVoided?: (hold: Tx) => void): number => {
    const due = l.expiredHolds.all(now, batch);
    for (const { id } of due) {
      const { transaction, replayed } = voidOne(id, "expired", now);
      if (!replayed) onVoided?.(transaction);
    }
    return due.length;
  });

  // A grant closed before (by the expiry sweep, or an earlier call) answers what its expire row
  // took then: a renewal that arrives after the sweep still learns the period's unspent rest.
  const closeGrant = sqlite.transaction((sourceTxId: number, now: number): number => {
    const g = grants.ofSource(sourceTxId);
    if (!g) return 0;
    if (g.closedAt === null) return grants.closeNow(sourceTxId, now, ledgerKeys.grantExpiry);
    const expireRow = l.byKey.get(ledgerKeys.grantExpiry(g.id));
    return expireRow ? -expireRow.amount : 0;
  });

  const expireGrants = sqlite.transaction((now: number, batch: number): number => grants.expireDue(now, batch, ledgerKeys.grantExpiry));

  const extend = sqlite.transaction((holdId: number, expiresAt: number, maxLifetimeMs: number): { extended: boolean; transaction: Tx } => {
    const current = l.byId.get(holdId);
    if (!current || current.type !== "usage") throw new LedgerError("hold_not_found", `hold ${holdId} not found`);
    const extended = l.extend.get({ id: holdId, expiresAt, maxLifetimeMs });
    return extended ? { extended: true, transaction: extended } : { extended: false, transaction: current };
  });

  const balance = sqlite.transaction((userId: number, now: number) => {
    requireUser(l, userId);
    return { balance: grants.spendable(userId, now), onHold: l.onHold.get(userId)!.onHold, nextExpiry: grants.nextExpiry(userId, now) };
  });

  const keySpent = sqlite.transaction((apiKeyId: number, since: number): number => l.keySpend.get(apiKeyId, since)!.spent);

  return { spend, credit, clawback, reverse, guardedDebit, post, voidHold, sweep, expireGrants, closeGrant, extend, balance, keySpent };
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
