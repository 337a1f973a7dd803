/**
 * An admin adds or removes credits by hand, with who and why. Balances change only through the
 * ledger (money/ledger.server.ts `adjust`); the audit row is written in the same write body,
 * so a change without its record (or the reverse) cannot exist.
 */
import type { PortableDb } from "#db/client.server";
import type { SqlRunner } from "#db/sql.server";
import { AUDIT_ACTIONS, LARGE_ADJUSTMENT, type AdjustmentType } from "~/utils/admin-schemas";
import { expiryAfter } from "~/utils/duration";
import { adjust, LedgerError, type Tx } from "../money/ledger.server";
import { ledgerKeys } from "../money/ledger-keys.server";
import { isUniqueViolation } from "../sql-target.server";

const USER_EXISTS = `SELECT id FROM users WHERE id = ?`;
const INSERT_AUDIT = `INSERT INTO audit_log (actor_id, action, target_user_id, reason, details, created_at) VALUES (?, ?, ?, ?, ?, ?)`;

/**
 * Above how many credits (either sign) a change needs the admin's explicit confirmation. The
 * action refuses an unconfirmed large change (AdjustCreditsSchema); the page gets the number from
 * here and only mirrors it, to show the confirmation box while the admin types (decision 032).
 */
export function largeAdjustmentThreshold(): number {
  return LARGE_ADJUSTMENT;
}

export type AdjustInput = {
  adminId: number;
  userId: number;
  amount: number;
  type: AdjustmentType;
  reason: string;
  /** The form's token: the ledger key is `admin-adjust:<token>`, so a double submit is a replay. */
  token: string;
  /** A bonus only: how long its credits stay spendable (null or omitted: never). */
  expiresAfterMs?: number | null;
};

export type AdjustResult =
  | { ok: true; replayed: boolean; transaction: Tx }
  | { ok: false; reason: "insufficient_credits"; balance: number; needed: number }
  | { ok: false; reason: "user_not_found" }
  /** The token already made a different change (another user, type or amount). */
  | { ok: false; reason: "token_reused" };

/**
 * The same token again is a replay: nothing changes, no second audit row, and the first result
 * comes back. A removal never takes the balance below zero (the ledger's guard).
 */
export async function adjustCredits(db: PortableDb, input: AdjustInput): Promise<AdjustResult> {
  const run = async (tx: SqlRunner): Promise<AdjustResult> => {
    if (!(await tx.get<{ id: number }>(USER_EXISTS, [input.userId]))) return { ok: false, reason: "user_not_found" };
    const now = Date.now();
    const result = await adjust(tx, {
      now,
      expiresAt: expiryAfter(now, input.expiresAfterMs ?? null),
      userId: input.userId,
      amount: input.amount,
      adminId: input.adminId,
      reason: input.reason,
      key: ledgerKeys.adminAdjustment(input.token),
      type: input.type,
    });
    if (!result.ok) return { ok: false, reason: "insufficient_credits", balance: result.balance, needed: result.needed };
    if (result.replayed) return { ok: true, replayed: true, transaction: result.transaction };
    await tx.run(INSERT_AUDIT, [
      input.adminId,
      AUDIT_ACTIONS.adjust,
      input.userId,
      result.transaction.reason ?? input.reason.trim(),
      JSON.stringify({
        transactionId: result.transaction.id,
        type: input.type,
        amount: input.amount,
        balanceAfter: result.transaction.balanceAfter,
        expiresAfterMs: input.expiresAfterMs ?? null,
        key: result.transaction.idempotencyKey,
      }),
      result.transaction.createdAt,
    ]);
    return { ok: true, replayed: false, transaction: result.transaction };
  };
  // On PostgreSQL two submits of one form may both miss the key and race to insert it: the loser
  // meets the unique key and its body rolls back. The winner has committed by then, so the same
  // write again finds its row: a replay (or token_reused), as on SQLite, where writes are serial.
  for (let attempt = 1; ; attempt++) {
    try {
      return await db.sql.write(run);
    } catch (error) {
      if (error instanceof LedgerError && error.code === "key_conflict") return { ok: false, reason: "token_reused" };
      if (!isUniqueViolation(error) || attempt >= 3) throw error;
    }
  }
}
