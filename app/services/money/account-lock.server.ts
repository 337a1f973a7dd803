/**
 * One user's money changes that read before they write (what a refund or dispute may still take
 * back, whether an invoice was granted already) are serialised per account: the write body takes
 * the user's row first. On SQLite write bodies run one at a time anyway; on PostgreSQL (READ
 * COMMITTED) a second body waits here until the first commits, and every statement after the
 * lock sees what it wrote, so two deliveries can never both take back, or grant, from the same
 * snapshot. The ledger's own writes update the same row, so this adds no new lock order. The lock
 * is `FOR NO KEY UPDATE` (db/sql.server.ts drops it on SQLite).
 */
import type { SqlRunner } from "#db/sql.server";

/** Locks the user's row until the body ends; false when there is no such user. */
export async function lockAccount(tx: SqlRunner, userId: number): Promise<boolean> {
  return (await tx.get<{ id: number }>("SELECT id FROM users WHERE id = ? FOR NO KEY UPDATE", [userId])) !== undefined;
}
