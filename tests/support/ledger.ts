import { randomUUID } from "node:crypto";
import type { AppDb } from "../../db/client.server";
import type { SqlRunner } from "../../db/sql.server";
import { getBalance, hold, postHold, voidRecordOf, type Insufficient, type LedgerTarget, type Tx, type Written } from "../../app/services/money/ledger.server";

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

type LedgerRow = Pick<Tx, "id" | "userId" | "amount" | "type" | "status" | "balanceAfter" | "expiresAt" | "settledAt" | "meta" | "createdAt">;
type GrantRow = { id: number; userId: number; kind: string; amount: number; remaining: number; closedAt: number | null; expiresAt: number | null };
type DrawRow = { txId: number; grantId: number; amount: number };

/**
 * The ledger's invariants read through the executor (portable SQL, so the same check on SQLite and
 * on PostgreSQL), for the users `userIds` (all users when omitted). Meant for a database nobody is
 * writing to at that moment (each statement may see its own snapshot on PostgreSQL). Answers the
 * violations, one sentence each; empty when everything holds:
 * - users.credits == SUM(amount) of the user's pending and posted rows == SUM(remaining) of its
 *   unclosed grants;
 * - an idempotency key names one row;
 * - replaying each user's history (row creations, and each void at the place it recorded)
 *   reproduces every balance_after and every void's balance; spending (usage, a negative
 *   adjustment) never left a balance below zero; pending/voided rows are holds of the right shape;
 * - each grant's remaining == amount − its draws − its expire rows, never below zero but for the
 *   debt grant, nothing left once closed;
 * - every counting spending row (usage, negative adjustment, clawback) draws exactly its amount,
 *   from its own user's grants, none expired when it was written; nothing else draws.
 * Not covered here (ledger-verify.server.ts, SQLite only, has them): stale holds and grants, API
 * key limits, clawback reversals.
 */
export async function ledgerViolationsOn(db: SqlRunner, userIds?: readonly number[]): Promise<string[]> {
  if (userIds && userIds.length === 0) return [];
  const ids = userIds ?? [];
  const inScope = (column: string) => (userIds ? `${column} IN (${ids.map(() => "?").join(", ")})` : "1 = 1");
  const violations: string[] = [];

  const balances = await db.all<{ id: number; credits: number; rowsSum: number; grantsSum: number }>(
    `SELECT u.id, u.credits,
       (SELECT coalesce(sum(t.amount), 0) FROM transactions t WHERE t.user_id = u.id AND t.status IN ('pending', 'posted')) AS "rowsSum",
       (SELECT coalesce(sum(g.remaining), 0) FROM credit_grants g WHERE g.user_id = u.id AND g.closed_at IS NULL) AS "grantsSum"
     FROM users u WHERE ${inScope("u.id")} ORDER BY u.id`,
    ids,
  );
  for (const b of balances) {
    if (b.credits !== b.rowsSum) violations.push(`user ${b.id}: credits ${b.credits} but the counting rows sum to ${b.rowsSum}`);
    if (b.credits !== b.grantsSum) violations.push(`user ${b.id}: credits ${b.credits} but the unclosed grants hold ${b.grantsSum}`);
  }

  for (const d of await db.all<{ key: string; n: number }>(
    `SELECT idempotency_key AS key, count(*) AS n FROM transactions WHERE ${inScope("user_id")} GROUP BY idempotency_key HAVING count(*) > 1`,
    ids,
  )) {
    violations.push(`key ${JSON.stringify(d.key)} names ${d.n} rows`);
  }

  const rows = await db.all<LedgerRow>(
    `SELECT id, user_id AS "userId", amount, type, status, balance_after AS "balanceAfter", expires_at AS "expiresAt",
       settled_at AS "settledAt", meta, created_at AS "createdAt"
     FROM transactions WHERE ${inScope("user_id")} ORDER BY user_id, id`,
    ids,
  );
  const byUser = new Map<number, LedgerRow[]>();
  for (const row of rows) byUser.set(row.userId, [...(byUser.get(row.userId) ?? []), row]);
  for (const [userId, history] of byUser) replayHistory(userId, history, violations);

  const grants = await db.all<GrantRow>(
    `SELECT id, user_id AS "userId", kind, amount, remaining, closed_at AS "closedAt", expires_at AS "expiresAt"
     FROM credit_grants WHERE ${inScope("user_id")} ORDER BY id`,
    ids,
  );
  const draws = await db.all<DrawRow>(
    `SELECT d.tx_id AS "txId", d.grant_id AS "grantId", d.amount FROM grant_draws d
     JOIN credit_grants g ON g.id = d.grant_id JOIN transactions t ON t.id = d.tx_id
     WHERE ${inScope("g.user_id")} OR ${inScope("t.user_id")} ORDER BY d.tx_id, d.grant_id`,
    [...ids, ...ids],
  );
  const rowById = new Map(rows.map((r) => [r.id, r]));
  const grantById = new Map(grants.map((g) => [g.id, g]));
  const drawn = new Map<number, number>();
  const drawnBy = new Map<number, number>();
  for (const d of draws) {
    drawn.set(d.grantId, (drawn.get(d.grantId) ?? 0) + d.amount);
    drawnBy.set(d.txId, (drawnBy.get(d.txId) ?? 0) + d.amount);
    const t = rowById.get(d.txId);
    const g = grantById.get(d.grantId);
    if (!t || !g || t.userId !== g.userId) {
      violations.push(`row ${d.txId} draws from grant ${d.grantId} of another user`);
      continue;
    }
    if (g.expiresAt !== null && g.expiresAt <= t.createdAt) violations.push(`row ${t.id} draws from grant ${g.id}, which had expired when the row was written`);
  }
  const expired = new Map<number, number>();
  for (const r of rows) {
    if (r.type !== "expire") continue;
    const grantId = parseMeta(r.meta).grantId;
    const g = typeof grantId === "number" ? grantById.get(grantId) : undefined;
    if (!g || g.userId !== r.userId) violations.push(`expire row ${r.id} names no grant of its user`);
    else expired.set(g.id, (expired.get(g.id) ?? 0) - r.amount);
  }
  for (const g of grants) {
    const d = drawn.get(g.id) ?? 0;
    const e = expired.get(g.id) ?? 0;
    if (g.remaining !== g.amount - d - e) violations.push(`grant ${g.id}: remaining ${g.remaining}, but ${g.amount} − ${d} drawn − ${e} expired`);
    if (g.remaining < 0 && g.kind !== "debt") violations.push(`grant ${g.id}: remaining ${g.remaining} below zero`);
    if (g.closedAt !== null && g.remaining !== 0) violations.push(`grant ${g.id}: closed with ${g.remaining} left`);
  }
  for (const r of rows) {
    const spending = r.amount < 0 && (r.type === "usage" || r.type === "adjustment" || r.type === "refund") && r.status !== "voided";
    const got = drawnBy.get(r.id) ?? 0;
    if (spending && got !== -r.amount) violations.push(`row ${r.id} (${r.type} of ${r.amount}) draws ${got}`);
    if (!spending && got !== 0) violations.push(`row ${r.id} (${r.status} ${r.type} of ${r.amount}) draws ${got}: only counting spending rows draw`);
  }
  return violations;
}

function parseMeta(meta: string | null): Record<string, unknown> {
  try {
    const value: unknown = meta ? JSON.parse(meta) : {};
    return value && typeof value === "object" ? (value as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** One user's history, replayed: every row's creation, and every void at the place it recorded. */
function replayHistory(userId: number, rows: LedgerRow[], violations: string[]): void {
  type Event = { at: number; phase: 0 | 1; delta: number; expected: number; what: string };
  const events: Event[] = [];
  for (const row of rows) {
    const bad = (detail: string) => violations.push(`user ${userId}, row ${row.id}: ${detail}`);
    if (!Number.isSafeInteger(row.amount) || row.amount === 0) bad(`amount ${row.amount}`);
    if (row.status === "pending" && (row.type !== "usage" || row.amount >= 0 || row.expiresAt === null || row.settledAt !== null)) bad("a pending row that is not an open hold");
    if (row.status !== "pending" && row.status !== "posted" && row.status !== "voided") bad(`status ${String(row.status)}`);
    const spending = row.type === "usage" || (row.type === "adjustment" && row.amount < 0);
    if (spending && row.balanceAfter < 0) bad(`${row.type} of ${row.amount} left the balance at ${row.balanceAfter}`);
    events.push({ at: row.id, phase: 0, delta: row.amount, expected: row.balanceAfter, what: `row ${row.id}` });
    if (row.status === "voided") {
      const record = voidRecordOf(row);
      if (row.type !== "usage" || row.settledAt === null || !record || record.voidAfterId < row.id) {
        bad("a voided row that is not a settled hold with its void record");
        continue;
      }
      events.push({ at: record.voidAfterId, phase: 1, delta: -row.amount, expected: record.voidBalanceAfter, what: `void of hold ${row.id}` });
    }
  }
  // Voids recorded at one place happened in one sweep, one after another: their balances rise.
  events.sort((a, b) => a.at - b.at || a.phase - b.phase || a.expected - b.expected);
  let balance = 0;
  for (const e of events) {
    balance += e.delta;
    if (balance !== e.expected) {
      violations.push(`user ${userId}: ${e.what} records balance ${e.expected}, replaying the history gives ${balance}`);
      return;
    }
  }
}
