/**
 * Redeem codes, the admin's side: create one (text given or generated), list them with their
 * counts, disable one. Each change writes its audit row in the same transaction. Redeeming is in
 * redemptions.server.ts. Why it is built this way: docs/decisions/024-redeem-codes.md.
 *
 * A code's text is stored in its canonical form (normalizeCode: upper case, no dashes or spaces),
 * so the unique index on it is the uniqueness rule and a redemption is one exact lookup.
 */
import crypto from "node:crypto";
import type { PortableDb } from "#db/client.server";
import type { SqlRunner } from "#db/sql.server";
import { AUDIT_ACTIONS } from "~/utils/admin-schemas";
import { CODE_ALPHABET, GENERATED_CODE_LENGTH, MAX_CODE_CREDITS, MAX_REDEMPTIONS, formatCode } from "~/utils/redeem-code-schemas";

/** A double-submitted create form (the same token) within this long is the same creation. */
const REPLAY_WINDOW_MS = 24 * 60 * 60 * 1000;

export type RedeemCodeView = {
  id: number;
  code: string;
  credits: number;
  creditsExpireAfterMs: number | null;
  maxRedemptions: number;
  redemptionCount: number;
  redeemableUntil: number | null;
  disabledAt: number | null;
  createdAt: number;
  createdByEmail: string;
  status: "active" | "used_up" | "expired" | "disabled";
};

type CodeRow = Omit<RedeemCodeView, "status">;

// Portable SQL (decision 036): quoted aliases, the creator's address joined (a missing row: "").
const CODE_COLUMNS = `c.id AS "id", c.code AS "code", c.credits AS "credits", c.credits_expire_after_ms AS "creditsExpireAfterMs",
  c.max_redemptions AS "maxRedemptions", c.redemption_count AS "redemptionCount", c.redeemable_until AS "redeemableUntil",
  c.disabled_at AS "disabledAt", c.created_at AS "createdAt", coalesce(u.email, '') AS "createdByEmail"`;

const SQL = {
  // The admin's row, locked: one admin's creations run one after another on PostgreSQL too, so a
  // double-submitted form's second body sees the first's audit row.
  lockAdmin: `SELECT id FROM users WHERE id = ? AND role = 'admin' AND deleted_at IS NULL FOR NO KEY UPDATE`,
  isAdmin: `SELECT id FROM users WHERE id = ? AND role = 'admin' AND deleted_at IS NULL`,
  byId: `SELECT ${CODE_COLUMNS} FROM redeem_codes c LEFT JOIN users u ON u.id = c.created_by WHERE c.id = ?`,
  byCode: `SELECT id FROM redeem_codes WHERE code = ?`,
  // Recent creations whose details may carry this token (LIKE narrows, JSON decides: details is text on both engines).
  createdWithToken: `SELECT details FROM audit_log WHERE created_at >= ? AND action = ? AND details LIKE ? ESCAPE '\\'`,
  // ON CONFLICT: a text taken meanwhile inserts nothing instead of aborting the body (PostgreSQL).
  insert: `INSERT INTO redeem_codes (code, credits, credits_expire_after_ms, max_redemptions, redeemable_until, created_by, created_at)
     VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (code) DO NOTHING RETURNING id`,
  disable: `UPDATE redeem_codes SET disabled_at = ? WHERE id = ? AND disabled_at IS NULL
     RETURNING id, code, redemption_count AS "redemptionCount", max_redemptions AS "maxRedemptions"`,
  audit: `INSERT INTO audit_log (actor_id, action, target_user_id, details, created_at) VALUES (?, ?, ?, ?, ?)`,
  list: `SELECT ${CODE_COLUMNS} FROM redeem_codes c LEFT JOIN users u ON u.id = c.created_by ORDER BY c.id DESC LIMIT ?`,
};

/** `%`, `_` and `\` taken literally in a LIKE pattern (ESCAPE '\'). */
function likeLiteral(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

async function codeCreatedWithToken(tx: SqlRunner, token: string, since: number): Promise<number | null> {
  const rows = await tx.all<{ details: string | null }>(SQL.createdWithToken, [since, AUDIT_ACTIONS.codeCreate, `%${likeLiteral(JSON.stringify(token))}%`]);
  for (const row of rows) {
    try {
      const details = JSON.parse(row.details ?? "null") as { token?: unknown; codeId?: unknown } | null;
      if (details && details.token === token && typeof details.codeId === "number") return details.codeId;
    } catch {
      // not JSON: not a creation this app wrote
    }
  }
  return null;
}

/** A fresh code from the unambiguous alphabet. Rejection sampling: every symbol equally likely. */
export function generateCode(): string {
  const limit = 256 - (256 % CODE_ALPHABET.length);
  let code = "";
  while (code.length < GENERATED_CODE_LENGTH) {
    for (const byte of crypto.randomBytes(GENERATED_CODE_LENGTH * 2)) {
      if (byte < limit && code.length < GENERATED_CODE_LENGTH) code += CODE_ALPHABET[byte % CODE_ALPHABET.length];
    }
  }
  return code;
}

export type CreateCodeInput = {
  adminId: number;
  /** Canonical (normalizeCode) text, or null to generate one. */
  code: string | null;
  credits: number;
  creditsExpireAfterMs: number | null;
  maxRedemptions: number;
  redeemableUntil: number | null;
  /** The form's token: the same token again is a replay, not a second code. */
  token: string;
};

export type CreateCodeResult =
  | { ok: true; replayed: boolean; code: RedeemCodeView }
  | { ok: false; reason: "code_taken"; message: string }
  | { ok: false; reason: "not_admin"; message: string };

function assertFigures(input: CreateCodeInput, now: number): void {
  // The form's schema checked these; a caller that skipped it is a bug, not a user error.
  const ok =
    Number.isSafeInteger(input.credits) && input.credits >= 1 && input.credits <= MAX_CODE_CREDITS &&
    Number.isSafeInteger(input.maxRedemptions) && input.maxRedemptions >= 1 && input.maxRedemptions <= MAX_REDEMPTIONS &&
    (input.creditsExpireAfterMs === null || (Number.isSafeInteger(input.creditsExpireAfterMs) && input.creditsExpireAfterMs > 0)) &&
    (input.redeemableUntil === null || (Number.isSafeInteger(input.redeemableUntil) && input.redeemableUntil > now)) &&
    (input.code === null || /^[A-Z0-9]{1,32}$/.test(input.code));
  if (!ok) throw new Error(`createRedeemCode: invalid input ${JSON.stringify({ ...input, token: undefined })}`);
}

export async function createRedeemCode(db: PortableDb, input: CreateCodeInput, now = Date.now()): Promise<CreateCodeResult> {
  assertFigures(input, now);
  return db.sql.write(async (tx): Promise<CreateCodeResult> => {
    if (!(await tx.get(SQL.lockAdmin, [input.adminId]))) return { ok: false, reason: "not_admin", message: "Only an administrator can create codes." };
    const earlier = await codeCreatedWithToken(tx, input.token, now - REPLAY_WINDOW_MS);
    if (earlier !== null) {
      const row = await tx.get<CodeRow>(SQL.byId, [earlier]);
      if (row) return { ok: true, replayed: true, code: viewOf(row, now) };
    }
    const taken = (code: string): CreateCodeResult => ({
      ok: false,
      reason: "code_taken",
      message: `The code ${formatCode(code)} already exists: choose another, or leave it empty to generate one.`,
    });
    let code = input.code;
    let inserted: { id: number } | undefined;
    if (code === null) {
      // 59 bits: a collision is all but impossible, but a retry costs nothing.
      do {
        code = generateCode();
        inserted = await tx.get<{ id: number }>(SQL.insert, [code, input.credits, input.creditsExpireAfterMs, input.maxRedemptions, input.redeemableUntil, input.adminId, now]);
      } while (!inserted);
    } else {
      if (await tx.get(SQL.byCode, [code])) return taken(code);
      inserted = await tx.get<{ id: number }>(SQL.insert, [code, input.credits, input.creditsExpireAfterMs, input.maxRedemptions, input.redeemableUntil, input.adminId, now]);
      if (!inserted) return taken(code); // created meanwhile by another body (PostgreSQL)
    }
    const { id } = inserted;
    await tx.run(SQL.audit, [input.adminId, AUDIT_ACTIONS.codeCreate, null, JSON.stringify({
      codeId: id,
      code,
      credits: input.credits,
      creditsExpireAfterMs: input.creditsExpireAfterMs,
      maxRedemptions: input.maxRedemptions,
      redeemableUntil: input.redeemableUntil,
      token: input.token,
    }), now]);
    return { ok: true, replayed: false, code: viewOf((await tx.get<CodeRow>(SQL.byId, [id]))!, now) };
  });
}

export type DisableCodeResult =
  | { ok: true; code: RedeemCodeView }
  | { ok: false; reason: "not_found" | "already_disabled" | "not_admin"; message: string };

/** Disabling is final (a new code is cheap) and keeps the row: its redemptions still name it.
 * The guarded UPDATE decides between two disables racing; its RETURNING gives the count as it is. */
export async function disableRedeemCode(db: PortableDb, input: { adminId: number; codeId: number }, now = Date.now()): Promise<DisableCodeResult> {
  return db.sql.write(async (tx): Promise<DisableCodeResult> => {
    if (!(await tx.get(SQL.isAdmin, [input.adminId]))) return { ok: false, reason: "not_admin", message: "Only an administrator can disable codes." };
    const disabled = await tx.get<{ id: number; code: string; redemptionCount: number; maxRedemptions: number }>(SQL.disable, [now, input.codeId]);
    if (!disabled) {
      const row = await tx.get<CodeRow>(SQL.byId, [input.codeId]);
      if (!row) return { ok: false, reason: "not_found", message: "There is no such code: nothing was changed." };
      return { ok: false, reason: "already_disabled", message: `The code ${formatCode(row.code)} is already disabled: nothing was changed.` };
    }
    await tx.run(SQL.audit, [input.adminId, AUDIT_ACTIONS.codeDisable, null, JSON.stringify({
      codeId: disabled.id,
      code: disabled.code,
      redemptionCount: disabled.redemptionCount,
      maxRedemptions: disabled.maxRedemptions,
    }), now]);
    return { ok: true, code: viewOf((await tx.get<CodeRow>(SQL.byId, [input.codeId]))!, now) };
  });
}

function statusOf(row: CodeRow, now: number): RedeemCodeView["status"] {
  if (row.disabledAt !== null) return "disabled";
  if (row.redeemableUntil !== null && now > row.redeemableUntil) return "expired";
  if (row.redemptionCount >= row.maxRedemptions) return "used_up";
  return "active";
}

function viewOf(row: CodeRow, now: number): RedeemCodeView {
  return { ...row, status: statusOf(row, now) };
}

/** The newest codes first, with how often each was used. */
export async function listRedeemCodes(db: PortableDb, opts: { limit?: number; now?: number } = {}): Promise<RedeemCodeView[]> {
  const now = opts.now ?? Date.now();
  const limit = Math.max(1, Math.min(500, Math.trunc(opts.limit ?? 200) || 1));
  return (await db.sql.all<CodeRow>(SQL.list, [limit])).map((row) => viewOf(row, now));
}

export async function getRedeemCode(db: PortableDb, codeId: number, now = Date.now()): Promise<RedeemCodeView | null> {
  if (!Number.isSafeInteger(codeId)) return null;
  const row = await db.sql.get<CodeRow>(SQL.byId, [codeId]);
  return row ? viewOf(row, now) : null;
}
