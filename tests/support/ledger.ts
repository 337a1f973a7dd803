import { randomUUID } from "node:crypto";
import type { AppDb } from "../../db/client.server";
import { getBalance, hold, postHold, type Insufficient, type LedgerTarget, type Written } from "../../app/services/money/ledger.server";

/**
 * Spends credits at once, as a finished generation does: a hold, then its post. For tests that
 * need usage rows in a history; the same key again is a replay of both steps.
 */
export async function spendNow(
  db: LedgerTarget,
  userId: number,
  cost: number,
  description: string,
  key: string = `test-spend:${randomUUID()}`,
): Promise<({ ok: true } & Written) | Insufficient> {
  const now = Date.now();
  const held = await hold(db, { userId, cost, key, description, ttlSeconds: 3600, now });
  if (!held.ok) return held;
  const posted = await postHold(db, held.transaction.id, now);
  return { ok: true, transaction: posted.transaction, replayed: held.replayed };
}

/** Whether the spendable balance covers `cost`. */
export function canSpend(db: AppDb, userId: number, cost: number): boolean {
  return getBalance(db, userId).balance >= cost;
}
