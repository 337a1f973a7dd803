/**
 * The ledger's write bodies, built from the statements of ledger-sql.server.ts and the grant
 * operations of ledger-grants.server.ts, for one transaction (`ledgerIn(tx)`). Only
 * ledger.server.ts runs these, inside a write of the executor (db/sql.server.ts), after
 * validating every argument. They await nothing but the database.
 *
 * Spending (a hold, a negative adjustment) takes credits in three steps, in this order: refuse
 * unless the SPENDABLE balance (live grants only) covers the cost; the guarded UPDATE of
 * users.credits (a second line of defence); the row, then its draws from the grants.
 */
import type { GrantKind, TransactionType } from "../../../db/schema";
import { ledgerKeys } from "./ledger-keys.server";
import { LedgerError, parseMeta, type Insufficient, type KeyLimitReached, type Tx, type VoidRecord, type Written } from "./ledger-model.server";
import type { SqlRunner } from "../../../db/sql.server";
import { grantsIn, type Grants } from "./ledger-grants.server";
import { ledgerStatements, type InsertRow, type LedgerStatements } from "./ledger-sql.server";

type Ledger = LedgerStatements & { grants: Grants };

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

async function replayOf(l: Ledger, key: string, userId: number, type: TransactionType, amount: number): Promise<Written | undefined> {
  const existing = await l.byKey(key);
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

async function requireUser(l: Ledger, userId: number, what = "user"): Promise<void> {
  if (!(await l.userCredits(userId))) throw new LedgerError("user_not_found", `${what} ${userId} not found`);
}

/** A refusal reports the SPENDABLE balance (live grants), the one the user can act on. */
async function insufficient(l: Ledger, userId: number, spendable: number, needed: number): Promise<Insufficient> {
  await requireUser(l, userId);
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
async function keyLimitRefusal(l: Ledger, a: HoldArgs): Promise<KeyLimitReached | undefined> {
  if (!a.apiKey || a.apiKey.monthlyLimit === null) return undefined;
  const spentThisMonth = await l.keySpend(a.apiKey.id, a.apiKey.monthStart);
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

/** The `expire` row a grant's closing writes: posted, negative, meta.grantId naming the grant. */
function expireRowWriter(l: LedgerStatements) {
  return async (a: { userId: number; grantId: number; amount: number; key: string; now: number }): Promise<void> => {
    const changed = (await l.change(-a.amount, a.now, a.userId))!;
    await l.insert({
      userId: a.userId, amount: -a.amount, type: "expire", status: "posted", key: a.key, description: "Credits expired",
      stripePaymentId: null, balanceAfter: changed.credits, expiresAt: null, adminId: null, reason: null,
      meta: JSON.stringify({ grantId: a.grantId }), createdAt: a.now, settledAt: a.now, apiKeyId: null,
    });
  };
}

/** The ledger's operations inside one transaction `tx`. */
export function ledgerIn(tx: SqlRunner) {
  const statements = ledgerStatements(tx);
  const l: Ledger = { ...statements, grants: grantsIn(tx, expireRowWriter(statements)) };
  const { grants } = l;

  /** Spending's three steps (see the file comment); the draws need the row's id. */
  const debitAndDraw = async (userId: number, cost: number, now: number, row: (balanceAfter: number) => InsertRow): Promise<Debit> => {
    await l.lockUser(userId);
    const live = await grants.liveFor(userId, now, cost);
    if (live.spendable < cost) return insufficient(l, userId, live.spendable, cost);
    const debited = await l.debit(cost, now, userId);
    if (!debited) return insufficient(l, userId, live.spendable, cost);
    const transaction = await l.insert(row(debited.credits));
    await grants.drawInOrder(transaction.id, live.grants, cost);
    return { ok: true, transaction, replayed: false };
  };

  const spend = async (a: HoldArgs): Promise<Debit | KeyLimitReached> => {
    const replay = await replayOf(l, a.key, a.userId, "usage", -a.cost);
    if (replay) return { ok: true, ...replay };
    const overLimit = await keyLimitRefusal(l, a);
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
  };

  /** A positive posted row and the grant it opens (grants, positive adjustments, reversals). */
  const credit = async (row: PostedArgs, expiresAt: number | null): Promise<Written> => {
    const replay = await replayOf(l, row.key, row.userId, row.type, row.amount);
    if (replay) return replay;
    if (row.adminId !== null) await requireUser(l, row.adminId, "admin");
    const changed = await l.change(row.amount, row.createdAt, row.userId);
    if (!changed) throw new LedgerError("user_not_found", `user ${row.userId} not found`);
    const transaction = await l.insert(postedRow(row, changed.credits));
    await grants.open({ userId: row.userId, sourceTxId: transaction.id, kind: kindOf(row), amount: row.amount, expiresAt, now: row.createdAt });
    return { transaction, replayed: false };
  };

  /** A clawback (negative refund row): unguarded, taken from the purchase's own grant first. */
  const clawback = async (row: PostedArgs, purchaseTxId: number | null): Promise<Written> => {
    const replay = await replayOf(l, row.key, row.userId, row.type, row.amount);
    if (replay) return replay;
    const changed = await l.change(row.amount, row.createdAt, row.userId);
    if (!changed) throw new LedgerError("user_not_found", `user ${row.userId} not found`);
    const transaction = await l.insert(postedRow(row, changed.credits));
    const purchase = purchaseTxId ?? (row.stripePaymentId ? ((await l.purchaseByPayment(row.stripePaymentId))?.id ?? null) : null);
    await grants.claw(transaction.id, row.userId, -row.amount, purchase, row.createdAt);
    return { transaction, replayed: false };
  };

  /** Gives back what one clawback took, once: a posted refund row of the opposite sign that
   * names the clawback in meta.reverses (the verifier checks the pair), as a grant that never
   * expires. */
  const reverse = async (reversesKey: string, row: Omit<PostedArgs, "userId" | "amount" | "type" | "stripePaymentId">): Promise<Written> => {
    const original = await l.byKey(reversesKey);
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
  };

  /** A guarded debit that is final at once (negative admin adjustment). */
  const guardedDebit = async (row: PostedArgs): Promise<Debit> => {
    const replay = await replayOf(l, row.key, row.userId, row.type, row.amount);
    if (replay) return { ok: true, ...replay };
    if (row.adminId !== null) await requireUser(l, row.adminId, "admin");
    return debitAndDraw(row.userId, -row.amount, row.createdAt, (balanceAfter) => postedRow(row, balanceAfter));
  };

  const post = async (holdId: number, now: number): Promise<Written> => {
    const posted = await l.post(now, holdId);
    if (posted) return { transaction: posted, replayed: false };
    return settledAlready(l, holdId, "posted");
  };

  const voidHold = async (holdId: number, reason: string, now: number): Promise<Written> => {
    const hold = await l.lockHold(holdId);
    if (!hold || hold.type !== "usage") throw new LedgerError("hold_not_found", `hold ${holdId} not found`);
    if (hold.status !== "pending") return settledAlready(l, holdId, "voided");
    const refunded = (await l.change(-hold.amount, now, hold.userId))!;
    const record: VoidRecord = { voidReason: reason, voidBalanceAfter: refunded.credits, voidAfterId: await l.maxId() };
    const meta = JSON.stringify({ ...parseMeta(hold.meta), ...record });
    const voided = (await l.void(now, meta, holdId))!;
    // After the void record: any `expire` row this writes sits after the void in the history.
    await grants.giveBack(holdId, hold.userId, -hold.amount, now, {
      expiry: ledgerKeys.grantExpiry,
      afterClose: (grantId) => ledgerKeys.grantExpiryAfterVoid(grantId, holdId),
    });
    return { transaction: voided, replayed: false };
  };

  // onVoided runs inside this transaction: what it writes commits with the void, or neither does.
  const sweep = async (now: number, batch: number, onVoided?: (hold: Tx, tx: SqlRunner) => void | Promise<void>): Promise<{ due: number; voided: number }> => {
    const due = await l.expiredHolds(now, batch);
    let voided = 0;
    for (const { id } of due) {
      // Posted (or voided) since the scan by a writer that got there first: not the sweep's.
      if ((await l.lockHold(id))?.status !== "pending") continue;
      const { transaction, replayed } = await voidHold(id, "expired", now);
      if (!replayed) {
        voided++;
        await onVoided?.(transaction, tx);
      }
    }
    return { due: due.length, voided };
  };

  // A grant closed before (by the expiry sweep, or an earlier call) answers what its expire row
  // took then: a renewal that arrives after the sweep still learns the period's unspent rest.
  const closeGrant = async (sourceTxId: number, now: number): Promise<number> => {
    const g = await grants.ofSource(sourceTxId);
    if (!g) return 0;
    if (g.closedAt === null) return grants.closeNow(sourceTxId, now, ledgerKeys.grantExpiry);
    const expireRow = await l.byKey(ledgerKeys.grantExpiry(g.id));
    return expireRow ? -expireRow.amount : 0;
  };

  const expireGrants = (now: number, batch: number): Promise<number> => grants.expireDue(now, batch, ledgerKeys.grantExpiry);

  const extend = async (holdId: number, expiresAt: number, maxLifetimeMs: number): Promise<{ extended: boolean; transaction: Tx }> => {
    const current = await l.byId(holdId);
    if (!current || current.type !== "usage") throw new LedgerError("hold_not_found", `hold ${holdId} not found`);
    const extended = await l.extend({ id: holdId, expiresAt, maxLifetimeMs });
    return extended ? { extended: true, transaction: extended } : { extended: false, transaction: current };
  };

  return { spend, credit, clawback, reverse, guardedDebit, post, voidHold, sweep, expireGrants, closeGrant, extend };
}

/** postHold / voidHold on a row that is no longer pending: a replay, or a refusal. */
async function settledAlready(l: Ledger, holdId: number, wanted: "posted" | "voided"): Promise<Written> {
  const hold = await l.byId(holdId);
  if (!hold || hold.type !== "usage") throw new LedgerError("hold_not_found", `hold ${holdId} not found`);
  if (hold.status === wanted) return { transaction: hold, replayed: true };
  if (hold.status === "voided") throw new LedgerError("hold_voided", `hold ${holdId} was voided; it cannot be posted`);
  if (hold.status === "posted") throw new LedgerError("hold_posted", `hold ${holdId} was posted; it cannot be voided`);
  // Pending here means the caller raced nobody (we hold the write lock): cannot happen.
  throw new LedgerError("hold_not_found", `hold ${holdId} is in an unexpected state ${hold.status}`);
}
