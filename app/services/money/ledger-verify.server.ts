/**
 * Checks the ledger's invariants against a database, live or not. Read-only: everything is read in
 * one read transaction, so with WAL it sees one consistent snapshot while the app keeps writing.
 *
 * What must hold (see docs/decisions/003-ledger-two-phase-holds.md):
 * - balance_mismatch: users.credits == SUM(amount) of the user's pending and posted rows;
 * - duplicate_key: an idempotency key names one row (the UNIQUE index should make this impossible);
 * - stale_hold: no hold stays pending more than sweepGraceMs past its timeout (the sweeper runs);
 * - bad_balance_after: replaying the user's history (row creations, and voids at the place each
 *   void recorded) reproduces every balance_after and every void's balance;
 * - negative_from_spending: spending (usage, negative adjustment) never left a balance below zero;
 *   only a clawback (refund) may;
 * - bad_amount: integer amounts whose sign fits the type;
 * - bad_reversal: a positive refund row gives back no more than the clawback it names (meta.reverses);
 * - bad_hold: pending and voided rows are negative usage rows with a timeout / a void record;
 * - bad_key_usage: a row naming an API key is a usage row of the key's own user, and no key spent
 *   more than its monthly limit in any UTC month (pending + posted usage);
 * - orphan_row, integrity: rows without a user; SQLite's own quick_check (with `integrity: true`).
 * Grants (docs/decisions/022-grants-and-expiry.md), in ledger-verify-grants.server.ts:
 * - grant_mismatch: users.credits == SUM(remaining) of the user's unclosed grants;
 * - bad_grant: remaining == amount − its draws − its expire rows; never below zero but for the
 *   debt grant; a closed grant has nothing left;
 * - bad_draw: draws only by counting spending rows (never by a voided hold), adding up to the
 *   row's amount, and never from a grant that had expired when the row was written;
 * - stale_grant: no unclosed grant stays past its expiry more than sweepGraceMs (the sweeper runs);
 * - bad_expire: every `expire` row names a grant of its user.
 */
import type { AppDb } from "../../../db/client.server";
import { voidRecordOf, type Tx } from "./ledger.server";
import { checkGrants } from "./ledger-verify-grants.server";

export type ViolationKind =
  | "balance_mismatch"
  | "duplicate_key"
  | "stale_hold"
  | "bad_balance_after"
  | "negative_from_spending"
  | "bad_amount"
  | "bad_hold"
  | "bad_reversal"
  | "bad_key_usage"
  | "orphan_row"
  | "integrity"
  | "grant_mismatch"
  | "bad_grant"
  | "bad_draw"
  | "stale_grant"
  | "bad_expire";

export type Violation = { kind: ViolationKind; userId?: number; transactionId?: number; detail: string };
export type LedgerReport = { users: number; transactions: number; pendingHolds: number; violations: Violation[] };

export type VerifyOptions = {
  /** How long past its timeout a hold may stay pending before it counts as stale. */
  sweepGraceMs: number;
  /** The clock to judge staleness by (default Date.now()). */
  now?: number;
  /** Also run PRAGMA quick_check and foreign_key_check (slower on big files). */
  integrity?: boolean;
};

type Row = Pick<Tx, "id" | "userId" | "amount" | "type" | "status" | "balanceAfter" | "expiresAt" | "settledAt" | "meta">;

const ROW_COLUMNS = `id, user_id AS userId, amount, type, status, balance_after AS balanceAfter,
  expires_at AS expiresAt, settled_at AS settledAt, meta`;

export function verifyLedger(db: AppDb, options: VerifyOptions): LedgerReport {
  const { sqlite } = db;
  const now = options.now ?? Date.now();
  return sqlite
    .transaction((): LedgerReport => {
      const violations: Violation[] = [];
      const users = sqlite.prepare<[], { n: number }>("SELECT count(*) AS n FROM users").get()!.n;
      const transactionCount = sqlite.prepare<[], { n: number }>("SELECT count(*) AS n FROM transactions").get()!.n;
      const pendingHolds = sqlite
        .prepare<[], { n: number }>("SELECT count(*) AS n FROM transactions WHERE status = 'pending'")
        .get()!.n;

      for (const m of sqlite
        .prepare<[], { userId: number; credits: number; total: number }>(
          `SELECT u.id AS userId, u.credits AS credits, coalesce(s.total, 0) AS total
           FROM users u LEFT JOIN (
             SELECT user_id, sum(amount) AS total FROM transactions
             WHERE status IN ('pending', 'posted') GROUP BY user_id
           ) s ON s.user_id = u.id
           WHERE u.credits IS NOT coalesce(s.total, 0)`,
        )
        .all()) {
        violations.push({
          kind: "balance_mismatch",
          userId: m.userId,
          detail: `credits ${m.credits} but the counting rows sum to ${m.total}`,
        });
      }

      for (const d of sqlite
        .prepare<[], { key: string; n: number }>(
          `SELECT idempotency_key AS key, count(*) AS n FROM transactions GROUP BY idempotency_key HAVING count(*) > 1`,
        )
        .all()) {
        violations.push({ kind: "duplicate_key", detail: `key ${JSON.stringify(d.key)} names ${d.n} rows` });
      }

      const staleBefore = now - options.sweepGraceMs;
      for (const h of sqlite
        .prepare<[number], { id: number; userId: number; expiresAt: number }>(
          `SELECT id, user_id AS userId, expires_at AS expiresAt FROM transactions
           WHERE status = 'pending' AND expires_at < ? ORDER BY expires_at`,
        )
        .all(staleBefore)) {
        violations.push({
          kind: "stale_hold",
          userId: h.userId,
          transactionId: h.id,
          detail: `hold pending ${now - h.expiresAt} ms past its timeout (grace ${options.sweepGraceMs} ms)`,
        });
      }

      for (const o of sqlite
        .prepare<[], { id: number; userId: number }>(
          `SELECT t.id AS id, t.user_id AS userId FROM transactions t LEFT JOIN users u ON u.id = t.user_id
           WHERE u.id IS NULL`,
        )
        .all()) {
        violations.push({ kind: "orphan_row", userId: o.userId, transactionId: o.id, detail: "row of a user that does not exist" });
      }

      for (const r of sqlite
        .prepare<[], { id: number; userId: number; amount: number; reverses: string | null; originalUser: number | null; originalAmount: number | null; originalType: string | null }>(
          `SELECT r.id AS id, r.user_id AS userId, r.amount AS amount, json_extract(r.meta, '$.reverses') AS reverses,
             o.user_id AS originalUser, o.amount AS originalAmount, o.type AS originalType
           FROM transactions r LEFT JOIN transactions o ON o.idempotency_key = json_extract(r.meta, '$.reverses')
           WHERE r.type = 'refund' AND r.amount > 0`,
        )
        .all()) {
        const fits = r.originalType === "refund" && r.originalUser === r.userId && r.originalAmount !== null && r.originalAmount < 0 && r.amount <= -r.originalAmount;
        if (!fits) {
          violations.push({
            kind: "bad_reversal",
            userId: r.userId,
            transactionId: r.id,
            detail: `gives back ${r.amount} for ${JSON.stringify(r.reverses)}, which is not a clawback of this user of at least that much`,
          });
        }
      }

      violations.push(...keyUsageViolations(db));
      checkGrants(sqlite, staleBefore, now, violations);

      if (options.integrity) {
        const result = sqlite.pragma("quick_check", { simple: true });
        if (result !== "ok") violations.push({ kind: "integrity", detail: `quick_check: ${String(result)}` });
        const fk = sqlite.pragma("foreign_key_check") as unknown[];
        if (fk.length > 0) violations.push({ kind: "integrity", detail: `foreign_key_check: ${JSON.stringify(fk.slice(0, 10))}` });
      }

      // Row by row, user by user (streamed: only one user's rows in memory at a time).
      let current: Row[] = [];
      for (const row of sqlite.prepare<[], Row>(`SELECT ${ROW_COLUMNS} FROM transactions ORDER BY user_id, id`).iterate()) {
        if (current.length > 0 && current[0].userId !== row.userId) {
          checkUserHistory(current, violations);
          current = [];
        }
        current.push(row);
      }
      if (current.length > 0) checkUserHistory(current, violations);

      return { users, transactions: transactionCount, pendingHolds, violations };
    })
    .deferred();
}

function checkRow(row: Row, violations: Violation[]): boolean {
  const bad = (kind: ViolationKind, detail: string) => {
    violations.push({ kind, userId: row.userId, transactionId: row.id, detail });
    return false;
  };
  const { amount, type, status } = row;
  if (!Number.isSafeInteger(amount) || amount === 0) return bad("bad_amount", `amount ${amount} is not a non-zero integer`);
  switch (type) {
    case "purchase":
    case "topup":
    case "bonus":
    case "plan":
    case "redeem":
      if (amount < 0) return bad("bad_amount", `${type} of ${amount}: must be positive`);
      break;
    case "usage":
      if (amount > 0) return bad("bad_amount", `${type} of ${amount}: must be negative`);
      break;
    case "refund":
      // Positive only as the reversal of a clawback (checked as a pair in verifyLedger).
      if (amount > 0 && typeof parseReverses(row.meta) !== "string") return bad("bad_amount", `refund of ${amount}: must be negative, or reverse a clawback`);
      break;
    case "adjustment":
      break;
    case "expire":
      if (amount > 0) return bad("bad_amount", `${type} of ${amount}: must be negative`);
      break;
    default:
      return bad("bad_amount", `unknown type ${String(type)}`);
  }
  if (status === "pending") {
    if (type !== "usage" || amount >= 0) return bad("bad_hold", `pending ${type} row of ${amount}: only negative usage may be pending`);
    if (row.expiresAt == null) return bad("bad_hold", "pending hold without a timeout");
    if (row.settledAt != null) return bad("bad_hold", "pending hold with a settled_at");
  } else if (status === "voided") {
    if (type !== "usage" || amount >= 0) return bad("bad_hold", `voided ${type} row of ${amount}: only holds may be voided`);
    if (row.settledAt == null) return bad("bad_hold", "voided hold without settled_at");
    const record = voidRecordOf(row);
    if (!record) return bad("bad_hold", "voided hold without its void record (voidReason, voidBalanceAfter, voidAfterId) in meta");
    if (record.voidAfterId < row.id) return bad("bad_hold", `void recorded after row ${record.voidAfterId}, before the hold itself`);
  } else if (status !== "posted") {
    return bad("bad_hold", `unknown status ${String(status)}`);
  }
  const spending = type === "usage" || (type === "adjustment" && amount < 0);
  if (spending && row.balanceAfter < 0) {
    return bad("negative_from_spending", `${type} of ${amount} left the balance at ${row.balanceAfter}`);
  }
  return true;
}

type Event = { at: number; phase: 0 | 1; delta: number; expected: number; what: string; id: number };

/** Replays one user's history: every row's creation, and every void at the place it recorded. */
function checkUserHistory(rows: Row[], violations: Violation[]): void {
  const events: Event[] = [];
  let replayable = true;
  for (const row of rows) {
    if (!checkRow(row, violations)) {
      replayable = false;
      continue;
    }
    // Every row counted when it was written (a hold starts pending, which counts).
    events.push({ at: row.id, phase: 0, delta: row.amount, expected: row.balanceAfter, what: `row ${row.id}`, id: row.id });
    if (row.status === "voided") {
      const record = voidRecordOf(row)!;
      events.push({
        at: record.voidAfterId,
        phase: 1,
        delta: -row.amount,
        expected: record.voidBalanceAfter,
        what: `void of hold ${row.id}`,
        id: row.id,
      });
    }
  }
  if (!replayable) return;
  // Voids recorded at the same place happened in one sweep, one after another: each gives credits
  // back, so their balances rise in the order they happened.
  events.sort((a, b) => a.at - b.at || a.phase - b.phase || a.expected - b.expected);
  let balance = 0;
  for (const e of events) {
    balance += e.delta;
    if (balance !== e.expected) {
      violations.push({
        kind: "bad_balance_after",
        userId: rows[0].userId,
        transactionId: e.id,
        detail: `${e.what} records balance ${e.expected}, replaying the history gives ${balance}`,
      });
      return;
    }
  }
}

function parseReverses(meta: string | null): unknown {
  try {
    return meta ? (JSON.parse(meta) as { reverses?: unknown }).reverses : undefined;
  } catch {
    return undefined;
  }
}

/** Rows spent through an API key: the key's own user, usage only, and never past its monthly limit. */
function keyUsageViolations({ sqlite }: AppDb): Violation[] {
  const violations: Violation[] = [];
  for (const r of sqlite
    .prepare<[], { id: number; userId: number; type: string; keyUser: number | null }>(
      `SELECT t.id AS id, t.user_id AS userId, t.type AS type, k.user_id AS keyUser
       FROM transactions t LEFT JOIN api_keys k ON k.id = t.api_key_id
       WHERE t.api_key_id IS NOT NULL AND (t.type != 'usage' OR k.user_id IS NOT t.user_id)`,
    )
    .all()) {
    violations.push({ kind: "bad_key_usage", userId: r.userId, transactionId: r.id, detail: `a ${r.type} row names an API key of user ${r.keyUser}` });
  }
  for (const m of sqlite
    .prepare<[], { keyId: number; userId: number; month: string; spent: number; limit: number }>(
      `SELECT k.id AS keyId, k.user_id AS userId, strftime('%Y-%m', t.created_at / 1000, 'unixepoch') AS month,
         sum(-t.amount) AS spent, k.monthly_credit_limit AS "limit"
       FROM api_keys k JOIN transactions t ON t.api_key_id = k.id
       WHERE k.monthly_credit_limit IS NOT NULL AND t.status IN ('pending', 'posted')
       GROUP BY k.id, month HAVING sum(-t.amount) > k.monthly_credit_limit`,
    )
    .all()) {
    violations.push({ kind: "bad_key_usage", userId: m.userId, detail: `API key ${m.keyId} spent ${m.spent} in ${m.month}, past its limit of ${m.limit}` });
  }
  return violations;
}
