/**
 * The verifier's grant checks (see ledger-verify.server.ts for the list and the report). Read
 * only, run inside the verifier's one read transaction.
 */
import type Database from "better-sqlite3";
import type { Violation } from "./ledger-verify.server";

// Per grant: what its draws and its expire rows took.
// Draws and expire rows summed once per grant and joined, not looked up per grant: a correlated
// scan of the expire rows for each grant made the check quadratic (hours at 100k users).
const GRANT_TOTALS = `
  SELECT g.id AS id, g.user_id AS userId, g.kind AS kind, g.amount AS amount, g.remaining AS remaining,
    g.closed_at AS closedAt, coalesce(d.drawn, 0) AS drawn, coalesce(e.expired, 0) AS expired
  FROM credit_grants g
  LEFT JOIN (SELECT grant_id, sum(amount) AS drawn FROM grant_draws GROUP BY grant_id) d ON d.grant_id = g.id
  LEFT JOIN (
    SELECT json_extract(meta, '$.grantId') AS grant_id, sum(-amount) AS expired FROM transactions
    WHERE type = 'expire' GROUP BY json_extract(meta, '$.grantId')
  ) e ON e.grant_id = g.id`;

type GrantTotals = { id: number; userId: number; kind: string; amount: number; remaining: number; closedAt: number | null; drawn: number; expired: number };

export function checkGrants(sqlite: Database.Database, staleBefore: number, now: number, violations: Violation[]): void {
  for (const m of sqlite
    .prepare<[], { userId: number; credits: number; total: number }>(
      `SELECT u.id AS userId, u.credits AS credits, coalesce(s.total, 0) AS total
       FROM users u LEFT JOIN (
         SELECT user_id, sum(remaining) AS total FROM credit_grants WHERE closed_at IS NULL GROUP BY user_id
       ) s ON s.user_id = u.id
       WHERE u.credits IS NOT coalesce(s.total, 0)`,
    )
    .all()) {
    violations.push({ kind: "grant_mismatch", userId: m.userId, detail: `credits ${m.credits} but the unclosed grants hold ${m.total}` });
  }

  for (const g of sqlite.prepare<[], GrantTotals>(GRANT_TOTALS).iterate()) {
    const bad = (detail: string) => violations.push({ kind: "bad_grant", userId: g.userId, detail: `grant ${g.id}: ${detail}` });
    if (g.remaining !== g.amount - g.drawn - g.expired) bad(`remaining ${g.remaining}, but ${g.amount} − ${g.drawn} drawn − ${g.expired} expired`);
    if (g.remaining < 0 && g.kind !== "debt") bad(`remaining ${g.remaining} below zero`);
    if (g.closedAt !== null && g.remaining !== 0) bad(`closed with ${g.remaining} left`);
  }

  for (const d of sqlite
    .prepare<[], { txId: number; userId: number | null; type: string | null; status: string | null; amount: number | null; drawn: number; owners: number; lateDraws: number }>(
      `SELECT d.tx_id AS txId, t.user_id AS userId, t.type AS type, t.status AS status, t.amount AS amount,
         sum(d.amount) AS drawn, sum(g.user_id IS NOT t.user_id) AS owners,
         sum(g.expires_at IS NOT NULL AND g.expires_at <= t.created_at) AS lateDraws
       FROM grant_draws d JOIN credit_grants g ON g.id = d.grant_id LEFT JOIN transactions t ON t.id = d.tx_id
       GROUP BY d.tx_id`,
    )
    .all()) {
    const bad = (detail: string) => violations.push({ kind: "bad_draw", userId: d.userId ?? undefined, transactionId: d.txId, detail });
    const spending = d.amount !== null && d.amount < 0 && (d.type === "usage" || d.type === "adjustment" || d.type === "refund");
    if (!spending || d.status === "voided") bad(`draws ${d.drawn} for a ${d.status ?? "missing"} ${d.type ?? "row"}: only counting spending rows draw`);
    else if (d.drawn !== -d.amount!) bad(`draws ${d.drawn} for a row of ${d.amount}`);
    if (d.owners > 0) bad("draws from another user's grant");
    if (d.lateDraws > 0) bad("draws from a grant that had expired when the row was written");
  }

  for (const g of sqlite
    .prepare<[number], { id: number; userId: number; expiresAt: number }>(
      `SELECT id, user_id AS userId, expires_at AS expiresAt FROM credit_grants
       WHERE closed_at IS NULL AND expires_at IS NOT NULL AND expires_at < ? ORDER BY expires_at`,
    )
    .all(staleBefore)) {
    violations.push({ kind: "stale_grant", userId: g.userId, detail: `grant ${g.id} unclosed ${now - g.expiresAt} ms past its expiry` });
  }

  for (const e of sqlite
    .prepare<[], { id: number; userId: number }>(
      `SELECT t.id AS id, t.user_id AS userId FROM transactions t
       LEFT JOIN credit_grants g ON g.id = json_extract(t.meta, '$.grantId') AND g.user_id = t.user_id
       WHERE t.type = 'expire' AND g.id IS NULL`,
    )
    .all()) {
    violations.push({ kind: "bad_expire", userId: e.userId, transactionId: e.id, detail: "expire row that names no grant of its user" });
  }
}
