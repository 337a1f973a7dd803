/**
 * The grant statements: every credit that arrives is a grant (amount, what is left, an optional
 * expiry), and every credit that leaves is drawn from grants and recorded as a draw. Used only by
 * ledger-sql.server.ts, inside its BEGIN IMMEDIATE transactions; nothing here opens a transaction.
 *
 * - live: not closed and (no expiry, or expiry still ahead of `now`). Spendable = SUM(remaining)
 *   of live grants, the debt grant (negative) included.
 * - spending order: soonest expiry first, then oldest; grants that never expire last.
 * - users.credits == SUM(remaining) of UNCLOSED grants: an expired grant keeps counting there until
 *   its `expire` row is written, but is never spendable, because spending reads live grants only.
 * Why: docs/decisions/022-grants-and-expiry.md.
 */
import type Database from "better-sqlite3";
import type { GrantKind } from "../../../db/schema";

export type LiveGrant = { id: number; remaining: number; expiresAt: number | null };
type GrantState = LiveGrant & { userId: number; closedAt: number | null };
export type GrantOfRow = { txId: number; expiresAt: number | null; closedAt: number | null };
export type NextExpiry = { amount: number; expiresAt: number } | null;

/** Writes one `expire` row (−amount) for a grant, and moves users.credits with it. */
export type ExpireRowWriter = (args: { userId: number; grantId: number; amount: number; key: string; now: number }) => void;

const LIVE = `closed_at IS NULL AND remaining <> 0 AND (expires_at IS NULL OR expires_at > @now)`;

function prepareGrantStatements(sqlite: Database.Database) {
  return {
    // Matches the partial index credit_grants_live_idx (closed_at IS NULL AND remaining <> 0).
    live: sqlite.prepare<{ userId: number; now: number }, LiveGrant>(
      `SELECT id, remaining, expires_at AS expiresAt FROM credit_grants
       WHERE user_id = @userId AND ${LIVE} ORDER BY expires_at IS NULL, expires_at, id`,
    ),
    spendable: sqlite.prepare<{ userId: number; now: number }, { total: number }>(
      `SELECT coalesce(sum(remaining), 0) AS total FROM credit_grants WHERE user_id = @userId AND ${LIVE}`,
    ),
    nextExpiry: sqlite.prepare<{ userId: number; now: number }, { amount: number; expiresAt: number }>(
      `SELECT sum(remaining) AS amount, expires_at AS expiresAt FROM credit_grants
       WHERE user_id = @userId AND ${LIVE} AND expires_at IS NOT NULL AND remaining > 0
       GROUP BY expires_at ORDER BY expires_at LIMIT 1`,
    ),
    take: sqlite.prepare<[number, number], unknown>(`UPDATE credit_grants SET remaining = remaining - ? WHERE id = ?`),
    // A clawback may take from one grant twice (its purchase's, then in spending order): one draw.
    draw: sqlite.prepare<[number, number, number], unknown>(
      `INSERT INTO grant_draws (tx_id, grant_id, amount) VALUES (?, ?, ?)
       ON CONFLICT (tx_id, grant_id) DO UPDATE SET amount = amount + excluded.amount`,
    ),
    open: sqlite.prepare<{ userId: number; sourceTxId: number | null; kind: GrantKind; amount: number; expiresAt: number | null; now: number }, { id: number }>(
      `INSERT INTO credit_grants (user_id, source_tx_id, kind, amount, remaining, expires_at, created_at)
       VALUES (@userId, @sourceTxId, @kind, @amount, @amount, @expiresAt, @now) RETURNING id`,
    ),
    drawsOf: sqlite.prepare<[number], { grantId: number; amount: number }>(
      `SELECT grant_id AS grantId, amount FROM grant_draws WHERE tx_id = ? ORDER BY grant_id`,
    ),
    deleteDraws: sqlite.prepare<[number], unknown>(`DELETE FROM grant_draws WHERE tx_id = ?`),
    giveBack: sqlite.prepare<[number, number], GrantState>(
      `UPDATE credit_grants SET remaining = remaining + ? WHERE id = ?
       RETURNING id, user_id AS userId, remaining, expires_at AS expiresAt, closed_at AS closedAt`,
    ),
    close: sqlite.prepare<[number, number], unknown>(
      `UPDATE credit_grants SET remaining = 0, closed_at = coalesce(closed_at, ?) WHERE id = ?`,
    ),
    due: sqlite.prepare<[number, number], GrantState>(
      `SELECT id, user_id AS userId, remaining, expires_at AS expiresAt, closed_at AS closedAt FROM credit_grants
       WHERE closed_at IS NULL AND expires_at IS NOT NULL AND expires_at <= ? ORDER BY expires_at, id LIMIT ?`,
    ),
    bySource: sqlite.prepare<[number], GrantState>(
      `SELECT id, user_id AS userId, remaining, expires_at AS expiresAt, closed_at AS closedAt FROM credit_grants
       WHERE source_tx_id = ?`,
    ),
    // The history's "expires on": the grants some rows opened (ids as a JSON array: one shape).
    ofRows: sqlite.prepare<[string], GrantOfRow>(
      `SELECT source_tx_id AS txId, expires_at AS expiresAt, closed_at AS closedAt FROM credit_grants
       WHERE source_tx_id IN (SELECT value FROM json_each(?))`,
    ),
    debtOf: sqlite.prepare<[number], { id: number }>(`SELECT id FROM credit_grants WHERE user_id = ? AND kind = 'debt'`),
  };
}

function isLive(g: { closedAt: number | null; expiresAt: number | null }, now: number): boolean {
  return g.closedAt === null && (g.expiresAt === null || g.expiresAt > now);
}

export type Grants = ReturnType<typeof prepareGrants>;

/** The grant operations of one connection. `writeExpireRow` is the ledger's own row writer. */
export function prepareGrants(sqlite: Database.Database, writeExpireRow: ExpireRowWriter) {
  const s = prepareGrantStatements(sqlite);

  /** Takes up to `amount` from one grant for row `txId`; returns what it took. */
  const takeFrom = (txId: number, grantId: number, available: number, amount: number): number => {
    const n = Math.min(available, amount);
    if (n <= 0) return 0;
    s.take.run(n, grantId);
    s.draw.run(txId, grantId, n);
    return n;
  };

  /** Draws `amount` for row `txId` from the live positive grants, in spending order; returns
   * what is left undrawn (0 when the caller checked spendable first). */
  const drawInOrder = (txId: number, grants: LiveGrant[], amount: number, skipId = 0): number => {
    let left = amount;
    for (const g of grants) {
      if (left === 0) break;
      if (g.remaining > 0 && g.id !== skipId) left -= takeFrom(txId, g.id, g.remaining, left);
    }
    return left;
  };

  /** Closes a grant that is no longer live: its unspent rest gets its own `expire` row. */
  const expire = (g: GrantState, key: string, now: number): void => {
    if (g.remaining > 0) writeExpireRow({ userId: g.userId, grantId: g.id, amount: g.remaining, key, now });
    s.close.run(now, g.id);
  };

  return {
    /** Live grants of a user in spending order, and their sum (the spendable balance). */
    live(userId: number, now: number): { grants: LiveGrant[]; spendable: number } {
      const grants = s.live.all({ userId, now });
      let spendable = 0;
      for (const g of grants) spendable += g.remaining;
      return { grants, spendable };
    },
    spendable: (userId: number, now: number): number => s.spendable.get({ userId, now })!.total,
    nextExpiry: (userId: number, now: number): NextExpiry => s.nextExpiry.get({ userId, now }) ?? null,
    drawInOrder,
    ofRows: (txIds: readonly number[]): GrantOfRow[] => (txIds.length === 0 ? [] : s.ofRows.all(JSON.stringify(txIds))),
    open(args: { userId: number; sourceTxId: number | null; kind: GrantKind; amount: number; expiresAt: number | null; now: number }): number {
      return s.open.get(args)!.id;
    },

    /**
     * A clawback of `amount` for row `txId`: first from the grant its purchase created, then from
     * the other live grants in spending order, and any rest from the user's debt grant (created
     * on first need), whose remaining goes below zero. Every take is a draw.
     */
    claw(txId: number, userId: number, amount: number, purchaseTxId: number | null, now: number): void {
      let left = amount;
      const own = purchaseTxId === null ? undefined : s.bySource.get(purchaseTxId);
      if (own && own.userId === userId && isLive(own, now)) left -= takeFrom(txId, own.id, own.remaining, left);
      if (left > 0) left = drawInOrder(txId, s.live.all({ userId, now }), left, own?.id);
      if (left === 0) return;
      const debt = s.debtOf.get(userId)?.id ?? s.open.get({ userId, sourceTxId: null, kind: "debt", amount: 0, expiresAt: null, now })!.id;
      s.take.run(left, debt);
      s.draw.run(txId, debt, left);
    },

    /**
     * Gives a voided row's draws back to their grants. A grant that expired or closed meanwhile
     * is closed again at once with an `expire` row for what it got back, so a void never makes an
     * expired credit spendable. A hold placed before grants existed has no draws: its credits come
     * back as a new grant that never expires (what they were before).
     */
    giveBack(txId: number, userId: number, amount: number, now: number, keys: { expiry: (grantId: number) => string; afterClose: (grantId: number) => string }): void {
      const draws = s.drawsOf.all(txId);
      if (draws.length === 0) {
        s.open.get({ userId, sourceTxId: null, kind: "opening", amount, expiresAt: null, now });
        return;
      }
      s.deleteDraws.run(txId);
      for (const d of draws) {
        const g = s.giveBack.get(d.amount, d.grantId)!;
        if (!isLive(g, now)) expire(g, g.closedAt === null ? keys.expiry(g.id) : keys.afterClose(g.id), now);
      }
    },

    /** The grant a row opened (undefined: none). */
    ofSource: (sourceTxId: number): (GrantState & { closedAt: number | null }) | undefined => s.bySource.get(sourceTxId),

    /**
     * Closes the grant row `sourceTxId` opened, now, whatever its expiry says: its unspent rest
     * gets its `expire` row (key: `key(grantId)`). Returns the rest expired, 0 when the grant was
     * closed already (a replay) or spent.
     */
    closeNow(sourceTxId: number, now: number, key: (grantId: number) => string): number {
      const g = s.bySource.get(sourceTxId);
      if (!g || g.closedAt !== null) return 0;
      const rest = Math.max(0, g.remaining);
      expire(g, key(g.id), now);
      return rest;
    },

    /** Closes up to `batch` grants past their expiry; returns how many it closed. */
    expireDue(now: number, batch: number, key: (grantId: number) => string): number {
      const due = s.due.all(now, batch);
      for (const g of due) expire(g, key(g.id), now);
      return due.length;
    },
  };
}
