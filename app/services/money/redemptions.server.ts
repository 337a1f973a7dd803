/**
 * A user redeems a code: once per user, never past the code's max_redemptions, whatever arrives
 * in parallel. Every check, the count, the `redeem` grant (through the ledger), the redemption
 * row and the audit row are ONE write body on the executor (decision 036; the ledger's write runs
 * inside it in a savepoint of its own), so either all of it commits or none. The body's first
 * statement locks the code's row (`FOR NO KEY UPDATE`, dropped on SQLite, whose writes are serial anyway; PostgreSQL
 * makes every other redemption of that code wait for this one to commit), so every check after it
 * reads what the redemptions before it committed. The guarded count
 * (`… AND redemption_count < max_redemptions`), the CHECK on the table and the unique
 * (code_id, user_id) are second lines of defence behind that lock.
 * See docs/decisions/024-redeem-codes.md.
 */
import type { PortableDb } from "#db/client.server";
import type { SqlRunner } from "#db/sql.server";
import { AUDIT_ACTIONS } from "~/utils/admin-schemas";
import { expiryAfter } from "~/utils/duration";
import { formatCode } from "~/utils/redeem-code-schemas";
import { incrementCounter } from "../metrics.server";
import { grant, readSpendableBalance, type Tx } from "./ledger.server";
import { ledgerKeys } from "./ledger-keys.server";
import type { RedeemLimiter, RedeemRefused } from "./redemption-limits.server";

export type RedeemRefusalReason = "unknown_code" | "code_expired" | "code_used_up" | "already_redeemed" | "email_not_verified" | "account_on_hold" | "user_not_found";

export type RedeemResult =
  | { ok: true; code: string; credits: number; expiresAt: number | null; balance: number; transaction: Tx }
  | { ok: false; reason: RedeemRefusalReason; message: string }
  | RedeemRefused;

/** Refusals about the account, not the code: they tell a guesser nothing, so they cost no try. */
const ACCOUNT_REFUSALS: ReadonlySet<RedeemRefusalReason> = new Set(["email_not_verified", "account_on_hold", "user_not_found"]);

// Unknown and disabled answer alike, so a guesser cannot tell a disabled code from no code.
const MESSAGES: Record<RedeemRefusalReason, string> = {
  unknown_code: "This code is not valid. Check it and try again.",
  code_expired: "This code has expired.",
  code_used_up: "This code has been used as many times as it may be.",
  already_redeemed: "You have already redeemed this code.",
  email_not_verified: "Confirm your e-mail address before redeeming a code.",
  account_on_hold: "This account is on hold: codes cannot be redeemed. Contact support.",
  user_not_found: "This account no longer exists.",
};

type CodeRow = { id: number; code: string; credits: number; lifetimeMs: number | null; max: number; count: number; until: number | null; disabledAt: number | null };

// Portable SQL (decision 036): one text for SQLite and PostgreSQL, quoted aliases.
const SQL = {
  user: `SELECT email_verified_at AS "verifiedAt", flagged_at AS "flaggedAt", deleted_at AS "deletedAt" FROM users WHERE id = ?`,
  // The code's row, locked for the rest of the body, as it is after every redemption before it.
  lockCode: `SELECT id, code, credits, credits_expire_after_ms AS "lifetimeMs", max_redemptions AS "max", redemption_count AS "count",
       redeemable_until AS "until", disabled_at AS "disabledAt"
     FROM redeem_codes WHERE code = ? FOR NO KEY UPDATE`,
  redeemed: `SELECT id FROM redemptions WHERE code_id = ? AND user_id = ?`,
  count: `UPDATE redeem_codes SET redemption_count = redemption_count + 1
     WHERE id = ? AND disabled_at IS NULL AND redemption_count < max_redemptions RETURNING redemption_count AS "count"`,
  insert: `INSERT INTO redemptions (code_id, user_id, tx_id, created_at) VALUES (?, ?, ?, ?)`,
  audit: `INSERT INTO audit_log (actor_id, action, target_user_id, details, created_at) VALUES (?, ?, ?, ?, ?)`,
};

/** normalizeCode's output: what the unique index on redeem_codes.code holds. */
const CANONICAL_CODE = /^[A-Z0-9]{1,32}$/;

type Refusal = { ok: false; reason: RedeemRefusalReason; message: string };
const refuse = (reason: RedeemRefusalReason): Refusal => ({ ok: false, reason, message: MESSAGES[reason] });

/** What stops this user from redeeming this code now, if anything. Runs with the code's row locked. */
async function refusalOf(tx: SqlRunner, userId: number, code: CodeRow | undefined, now: number): Promise<Refusal | null> {
  const user = await tx.get<{ verifiedAt: number | null; flaggedAt: number | null; deletedAt: number | null }>(SQL.user, [userId]);
  if (!user || user.deletedAt !== null) return refuse("user_not_found");
  if (user.verifiedAt === null) return refuse("email_not_verified");
  if (user.flaggedAt !== null) return refuse("account_on_hold");
  if (!code || code.disabledAt !== null) return refuse("unknown_code");
  if (await tx.get(SQL.redeemed, [code.id, userId])) return refuse("already_redeemed");
  if (code.until !== null && now > code.until) return refuse("code_expired");
  if (code.count >= code.max) return refuse("code_used_up");
  return null;
}

type Applied = { ok: true; code: string; credits: number; expiresAt: number | null; transaction: Tx };

function applyRedemption(db: PortableDb, input: { userId: number; code: string; apiKeyId: number | null }, now: number): Promise<Applied | Refusal> {
  return db.sql.write(async (tx): Promise<Applied | Refusal> => {
    // Only a canonical text can name a code: anything else (a caller that skipped the schema, a
    // NUL byte PostgreSQL would refuse) is no code at all, and is not even looked up.
    const code = typeof input.code === "string" && CANONICAL_CODE.test(input.code) ? await tx.get<CodeRow>(SQL.lockCode, [input.code]) : undefined;
    const refusal = await refusalOf(tx, input.userId, code, now);
    if (refusal) return refusal;
    const row = code!;
    const counted = await tx.get<{ count: number }>(SQL.count, [row.id]);
    // We hold the code's row and just read count < max: a miss here means the lock did not hold.
    if (!counted) throw new Error(`redeem code ${row.id}: the guarded count refused under the code's lock`);
    const expiresAt = expiryAfter(now, row.lifetimeMs);
    const written = await grant(tx, {
      userId: input.userId,
      amount: row.credits,
      type: "redeem",
      key: ledgerKeys.redemption(row.id, input.userId),
      description: `Redeemed code ${formatCode(row.code)}`,
      expiresAt,
      meta: { codeId: row.id },
      now,
    });
    // No redemption row yet, so no ledger row with this key can exist: a replay is a broken invariant.
    if (written.replayed) throw new Error(`redeem code ${row.id}, user ${input.userId}: ledger row exists without its redemption`);
    await tx.run(SQL.insert, [row.id, input.userId, written.transaction.id, now]);
    await tx.run(SQL.audit, [input.userId, AUDIT_ACTIONS.codeRedeem, input.userId, JSON.stringify({
      codeId: row.id,
      code: row.code,
      credits: row.credits,
      expiresAt,
      transactionId: written.transaction.id,
      redemptionCount: counted.count,
      maxRedemptions: row.max,
      apiKeyId: input.apiKeyId,
    }), now]);
    return { ok: true, code: row.code, credits: row.credits, expiresAt, transaction: written.transaction };
  });
}

export type RedeemInput = {
  userId: number;
  /** The canonical code (normalizeCode). */
  code: string;
  /** The client's address, for the per-IP limit. */
  ip: string;
  /** Redeemed through an API key (recorded in the audit row), or null for the browser session. */
  apiKeyId?: number | null;
  now?: number;
};

/** Redeems `code` for the user, or says why not. A try that did not work keeps its limit points. */
export async function redeemCode(deps: { db: PortableDb; limiter: RedeemLimiter }, input: RedeemInput): Promise<RedeemResult> {
  const attempt = await deps.limiter.begin(input.userId, input.ip);
  if (!attempt.ok) {
    incrementCounter("redemptions_total", { outcome: attempt.reason });
    return attempt;
  }
  let result: Applied | Refusal;
  try {
    result = await applyRedemption(deps.db, { userId: input.userId, code: input.code, apiKeyId: input.apiKeyId ?? null }, input.now ?? Date.now());
  } catch (error) {
    // A busy database or a bug: the user did nothing wrong, so the try is not counted.
    await attempt.release();
    throw error;
  }
  incrementCounter("redemptions_total", { outcome: result.ok ? "redeemed" : result.reason });
  if (result.ok || ACCOUNT_REFUSALS.has(result.reason)) await attempt.release();
  if (!result.ok) return result;
  return { ...result, balance: await readSpendableBalance(deps.db, input.userId) };
}
