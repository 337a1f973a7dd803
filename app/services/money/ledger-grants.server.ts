/**
 * The grant statements: every credit that arrives is a grant (amount, what is left, an optional
 * expiry), and every credit that leaves is drawn from grants and recorded as a draw. Used only by
 * the ledger's own modules, inside their write bodies; nothing here opens a transaction.
 *
 * - live: not closed and (no expiry, or expiry still ahead of `now`). Spendable = SUM(remaining)
 *   of live grants, the debt grant (negative) included.
 * - spending order: soonest expiry first, then oldest; grants that never expire last.
 * - users.credits == SUM(remaining) of UNCLOSED grants: an expired grant keeps counting there until
 *   its `expire` row is written, but is never spendable, because spending reads live grants only.
 * Why: docs/decisions/022-grants-and-expiry.md.
 */
import type Database from "better-sqlite3";
import type { SqlRunner } from "../../../db/sql.server";
import type { GrantKind } from "../../../db/schema";

export type LiveGrant = { id: number; remaining: number; expiresAt: number | null };
type GrantState = LiveGrant & { userId: number; closedAt: number | null };
export type GrantOfRow = { txId: number; expiresAt: number | null; closedAt: number | null };
export type NextExpiry = { amount: number; expiresAt: number } | null;

/** Writes one `expire` row (−amount) for a grant, and moves users.credits with it. */
export type ExpireRowWriter = (args: { userId: number; grantId: number; amount: number; key: string; now: number }) => Promise<void>;

/** How many grants a spend reads first; it reads them all only when these do not cover it. */
export const LIVE_FIRST = 8;

/** A grant still open with something in it (the partial index credit_grants_live_idx). */
const OPEN = `closed_at IS NULL AND remaining <> 0`;
/** A live grant: open and not expired at @now. The one definition of what a balance counts. */
export const LIVE_GRANT = `${OPEN} AND (expires_at IS NULL OR expires_at > @now)`;
const GRANT_STATE = `id, user_id AS "userId", remaining, expires_at AS "expiresAt", closed_at AS "closedAt"`;

export const GRANT_SQL = {
  // Matches the partial index credit_grants_live_idx (closed_at IS NULL AND remaining <> 0).
  live: `SELECT id, remaining, expires_at AS "expiresAt" FROM credit_grants
   WHERE user_id = @userId AND ${LIVE_GRANT} ORDER BY expires_at IS NULL, expires_at, id`,
  // The first grants in spending order: what a spend draws from, nearly always (see liveFor).
  // As two index ranges (the expiring ones by date, then the rest by id), each read in the live
  // index's order and cut at LIVE_FIRST, then merged: the one-range form had to sort every live
  // grant of the user first, since no index order puts NULL expiries last on both engines.
  liveFirst: `SELECT id, remaining, "expiresAt" FROM (
     SELECT * FROM (SELECT id, remaining, expires_at AS "expiresAt" FROM credit_grants
       WHERE user_id = @userId AND ${OPEN} AND expires_at > @now
       ORDER BY expires_at, id LIMIT ${LIVE_FIRST}) soon
     UNION ALL
     SELECT * FROM (SELECT id, remaining, expires_at AS "expiresAt" FROM credit_grants
       WHERE user_id = @userId AND ${OPEN} AND expires_at IS NULL
       ORDER BY id LIMIT ${LIVE_FIRST}) never
   ) first_grants ORDER BY "expiresAt" IS NULL, "expiresAt", id LIMIT ${LIVE_FIRST}`,
  spendable: `SELECT coalesce(sum(remaining), 0) AS total FROM credit_grants WHERE user_id = @userId AND ${LIVE_GRANT}`,
  nextExpiry: `SELECT sum(remaining) AS amount, expires_at AS "expiresAt" FROM credit_grants
   WHERE user_id = @userId AND ${LIVE_GRANT} AND expires_at IS NOT NULL AND remaining > 0
   GROUP BY expires_at ORDER BY expires_at LIMIT 1`,
  take: `UPDATE credit_grants SET remaining = remaining - ? WHERE id = ?`,
  // A clawback may take from one grant twice (its purchase's, then in spending order): one draw.
  draw: `INSERT INTO grant_draws (tx_id, grant_id, amount) VALUES (?, ?, ?)
   ON CONFLICT (tx_id, grant_id) DO UPDATE SET amount = grant_draws.amount + excluded.amount`,
  open: `INSERT INTO credit_grants (user_id, source_tx_id, kind, amount, remaining, expires_at, created_at)
   VALUES (@userId, @sourceTxId, @kind, @amount, @amount, @expiresAt, @now) RETURNING id`,
  drawsOf: `SELECT grant_id AS "grantId", amount FROM grant_draws WHERE tx_id = ? ORDER BY grant_id`,
  deleteDraws: `DELETE FROM grant_draws WHERE tx_id = ?`,
  giveBack: `UPDATE credit_grants SET remaining = remaining + ? WHERE id = ? RETURNING ${GRANT_STATE}`,
  close: `UPDATE credit_grants SET remaining = 0, closed_at = coalesce(closed_at, ?) WHERE id = ?`,
  due: `SELECT ${GRANT_STATE} FROM credit_grants
   WHERE closed_at IS NULL AND expires_at IS NOT NULL AND expires_at <= ? ORDER BY expires_at, id LIMIT ?`,
  bySource: `SELECT ${GRANT_STATE} FROM credit_grants WHERE source_tx_id = ?`,
  // The history's "expires on": the grants some rows opened (ids as a JSON array: one shape).
  // SQLite only, as the reads are for now.
  ofRows: `SELECT source_tx_id AS "txId", expires_at AS "expiresAt", closed_at AS "closedAt" FROM credit_grants
   WHERE source_tx_id IN (SELECT value FROM json_each(?))`,
  debtOf: `SELECT id FROM credit_grants WHERE user_id = ? AND kind = 'debt'`,
} as const;

function isLive(g: { closedAt: number | null; expiresAt: number | null }, now: number): boolean {
  return g.closedAt === null && (g.expiresAt === null || g.expiresAt > now);
}

/** The grants' synchronous reads on one SQLite connection (balances, history, a grant's rest). */
export function grantReadsOf(sqlite: Database.Database) {
  const G = GRANT_SQL;
  const spendable = sqlite.prepare<{ userId: number; now: number }, { total: number }>(G.spendable);
  const nextExpiry = sqlite.prepare<{ userId: number; now: number }, { amount: number; expiresAt: number }>(G.nextExpiry);
  const ofRows = sqlite.prepare<[string], GrantOfRow>(G.ofRows);
  const bySource = sqlite.prepare<[number], GrantState>(G.bySource);
  return {
    spendable: (userId: number, now: number): number => spendable.get({ userId, now })!.total,
    nextExpiry: (userId: number, now: number): NextExpiry => nextExpiry.get({ userId, now }) ?? null,
    ofRows: (txIds: readonly number[]): GrantOfRow[] => (txIds.length === 0 ? [] : ofRows.all(JSON.stringify(txIds))),
    ofSource: (sourceTxId: number): GrantState | undefined => bySource.get(sourceTxId),
  };
}
export type GrantReads = ReturnType<typeof grantReadsOf>;

export type Grants = ReturnType<typeof grantsIn>;

/** The grant operations inside one write body. `writeExpireRow` is the ledger's own row writer. */
export function grantsIn(tx: SqlRunner, writeExpireRow: ExpireRowWriter) {
  const G = GRANT_SQL;
  const liveOf = (userId: number, now: number) => tx.all<LiveGrant>(G.live, { userId, now });
  const openGrant = async (args: { userId: number; sourceTxId: number | null; kind: GrantKind; amount: number; expiresAt: number | null; now: number }) =>
    (await tx.get<{ id: number }>(G.open, args))!.id;

  /** Takes up to `amount` from one grant for row `txId`; returns what it took. */
  const takeFrom = async (txId: number, grantId: number, available: number, amount: number): Promise<number> => {
    const n = Math.min(available, amount);
    if (n <= 0) return 0;
    await tx.run(G.take, [n, grantId]);
    await tx.run(G.draw, [txId, grantId, n]);
    return n;
  };

  /** Draws `amount` for row `txId` from the live positive grants, in spending order; returns
   * what is left undrawn (0 when the caller checked spendable first). */
  const drawInOrder = async (txId: number, grants: LiveGrant[], amount: number, skipId = 0): Promise<number> => {
    let left = amount;
    for (const g of grants) {
      if (left === 0) break;
      if (g.remaining > 0 && g.id !== skipId) left -= await takeFrom(txId, g.id, g.remaining, left);
    }
    return left;
  };

  /** Closes a grant that is no longer live: its unspent rest gets its own `expire` row. */
  const expire = async (g: GrantState, key: string, now: number): Promise<void> => {
    if (g.remaining > 0) await writeExpireRow({ userId: g.userId, grantId: g.id, amount: g.remaining, key, now });
    await tx.run(G.close, [now, g.id]);
  };

  const ofSource = (sourceTxId: number) => tx.get<GrantState>(G.bySource, [sourceTxId]);

  return {
    /**
     * The spendable balance (the sum of the live grants, the debt grant's negative rest included)
     * and the live grants a spend of `cost` draws from, in spending order. The first LIVE_FIRST
     * grants are read; fewer than that are all of them, and their sum is the balance (most users:
     * one read). Otherwise the sum is one aggregate, and the grants are those first LIVE_FIRST
     * unless they do not cover `cost`, so a user
     * with many unspent grants (a purchase each) does not have every one of them read on every
     * spend. Nothing to draw when the spendable balance does not cover `cost`.
     */
    async liveFor(userId: number, now: number, cost: number): Promise<{ grants: LiveGrant[]; spendable: number }> {
      const first = await tx.all<LiveGrant>(G.liveFirst, { userId, now });
      if (first.length < LIVE_FIRST) {
        // Fewer than a batch: these are all the live grants (a debt's negative remaining
        // included), so their sum is the spendable balance without a second read.
        let spendable = 0;
        for (const g of first) spendable += g.remaining;
        return { grants: spendable < cost ? [] : first, spendable };
      }
      const spendable = (await tx.get<{ total: number }>(G.spendable, { userId, now }))!.total;
      if (spendable < cost) return { grants: [], spendable };
      let covers = 0;
      for (const g of first) if (g.remaining > 0) covers += g.remaining;
      return { grants: covers >= cost ? first : await liveOf(userId, now), spendable };
    },
    drawInOrder,
    open: openGrant,

    /**
     * A clawback of `amount` for row `txId`: first from the grant its purchase created, then from
     * the other live grants in spending order, and any rest from the user's debt grant (created
     * on first need), whose remaining goes below zero. Every take is a draw.
     */
    async claw(txId: number, userId: number, amount: number, purchaseTxId: number | null, now: number): Promise<void> {
      let left = amount;
      const own = purchaseTxId === null ? undefined : await ofSource(purchaseTxId);
      if (own && own.userId === userId && isLive(own, now)) left -= await takeFrom(txId, own.id, own.remaining, left);
      if (left > 0) left = await drawInOrder(txId, await liveOf(userId, now), left, own?.id);
      if (left === 0) return;
      const debt = (await tx.get<{ id: number }>(G.debtOf, [userId]))?.id ??
        (await openGrant({ userId, sourceTxId: null, kind: "debt", amount: 0, expiresAt: null, now }));
      await tx.run(G.take, [left, debt]);
      await tx.run(G.draw, [txId, debt, left]);
    },

    /**
     * Gives a voided row's draws back to their grants. A grant that expired or closed meanwhile
     * is closed again at once with an `expire` row for what it got back, so a void never makes an
     * expired credit spendable. A hold placed before grants existed has no draws: its credits come
     * back as a new grant that never expires (what they were before).
     */
    async giveBack(txId: number, userId: number, amount: number, now: number, keys: { expiry: (grantId: number) => string; afterClose: (grantId: number) => string }): Promise<void> {
      const draws = await tx.all<{ grantId: number; amount: number }>(G.drawsOf, [txId]);
      if (draws.length === 0) {
        await openGrant({ userId, sourceTxId: null, kind: "opening", amount, expiresAt: null, now });
        return;
      }
      await tx.run(G.deleteDraws, [txId]);
      for (const d of draws) {
        const g = (await tx.get<GrantState>(G.giveBack, [d.amount, d.grantId]))!;
        if (!isLive(g, now)) await expire(g, g.closedAt === null ? keys.expiry(g.id) : keys.afterClose(g.id), now);
      }
    },

    /** The grant a row opened (undefined: none). */
    ofSource,

    /**
     * Closes the grant row `sourceTxId` opened, now, whatever its expiry says: its unspent rest
     * gets its `expire` row (key: `key(grantId)`). Returns the rest expired, 0 when the grant was
     * closed already (a replay) or spent.
     */
    async closeNow(sourceTxId: number, now: number, key: (grantId: number) => string): Promise<number> {
      const g = await ofSource(sourceTxId);
      if (!g || g.closedAt !== null) return 0;
      const rest = Math.max(0, g.remaining);
      await expire(g, key(g.id), now);
      return rest;
    },

    /** Closes up to `batch` grants past their expiry; returns how many it closed. */
    async expireDue(now: number, batch: number, key: (grantId: number) => string): Promise<number> {
      const due = await tx.all<GrantState>(G.due, [now, batch]);
      for (const g of due) await expire(g, key(g.id), now);
      return due.length;
    },
  };
}
