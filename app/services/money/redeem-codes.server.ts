/**
 * Redeem codes, the admin's side: create one (text given or generated), list them with their
 * counts, disable one. Each change writes its audit row in the same transaction. Redeeming is in
 * redemptions.server.ts. Why it is built this way: docs/decisions/024-redeem-codes.md.
 *
 * A code's text is stored in its canonical form (normalizeCode: upper case, no dashes or spaces),
 * so the unique index on it is the uniqueness rule and a redemption is one exact lookup.
 */
import crypto from "node:crypto";
import type { AppDb } from "#db/client.server";
import { perConnection } from "#db/prepared.server";
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

type CodeRow = Omit<RedeemCodeView, "status" | "createdByEmail"> & { createdBy: number };

const CODE_COLUMNS = `c.id AS id, c.code AS code, c.credits AS credits, c.credits_expire_after_ms AS creditsExpireAfterMs,
  c.max_redemptions AS maxRedemptions, c.redemption_count AS redemptionCount, c.redeemable_until AS redeemableUntil,
  c.disabled_at AS disabledAt, c.created_at AS createdAt, c.created_by AS createdBy`;

const stmts = perConnection((sqlite) => ({
  isAdmin: sqlite.prepare<[number], { id: number }>(`SELECT id FROM users WHERE id = ? AND role = 'admin' AND deleted_at IS NULL`),
  byCode: sqlite.prepare<[string], { id: number }>(`SELECT id FROM redeem_codes WHERE code = ?`),
  byId: sqlite.prepare<[number], CodeRow>(`SELECT ${CODE_COLUMNS} FROM redeem_codes c WHERE c.id = ?`),
  // The audit row of a creation made with this form token (recent rows only: the created index).
  createdWithToken: sqlite.prepare<{ action: string; token: string; since: number }, { codeId: number }>(
    `SELECT details ->> '$.codeId' AS codeId FROM audit_log
     WHERE created_at >= @since AND action = @action AND details ->> '$.token' = @token LIMIT 1`,
  ),
  insert: sqlite.prepare<[string, number, number | null, number, number | null, number, number], { id: number }>(
    `INSERT INTO redeem_codes (code, credits, credits_expire_after_ms, max_redemptions, redeemable_until, created_by, created_at)
     VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`,
  ),
  disable: sqlite.prepare<[number, number], { id: number }>(`UPDATE redeem_codes SET disabled_at = ? WHERE id = ? AND disabled_at IS NULL RETURNING id`),
  audit: sqlite.prepare<[number, string, number | null, string, number]>(
    `INSERT INTO audit_log (actor_id, action, target_user_id, details, created_at) VALUES (?, ?, ?, ?, ?)`,
  ),
  list: sqlite.prepare<[number], CodeRow & { createdByEmail: string }>(
    `SELECT ${CODE_COLUMNS}, u.email AS createdByEmail FROM redeem_codes c JOIN users u ON u.id = c.created_by ORDER BY c.id DESC LIMIT ?`,
  ),
}));

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

export function createRedeemCode(db: AppDb, input: CreateCodeInput, now = Date.now()): CreateCodeResult {
  assertFigures(input, now);
  const s = stmts(db);
  return db.sqlite
    .transaction((): CreateCodeResult => {
      if (!s.isAdmin.get(input.adminId)) return { ok: false, reason: "not_admin", message: "Only an administrator can create codes." };
      const earlier = s.createdWithToken.get({ action: AUDIT_ACTIONS.codeCreate, token: input.token, since: now - REPLAY_WINDOW_MS });
      if (earlier) return { ok: true, replayed: true, code: viewOf(db, s.byId.get(Number(earlier.codeId))!, now) };
      let code = input.code;
      if (code === null) {
        // 59 bits: a collision is all but impossible, but a retry costs nothing.
        do code = generateCode();
        while (s.byCode.get(code));
      } else if (s.byCode.get(code)) {
        return { ok: false, reason: "code_taken", message: `The code ${formatCode(code)} already exists: choose another, or leave it empty to generate one.` };
      }
      const { id } = s.insert.get(code, input.credits, input.creditsExpireAfterMs, input.maxRedemptions, input.redeemableUntil, input.adminId, now)!;
      s.audit.run(input.adminId, AUDIT_ACTIONS.codeCreate, null, JSON.stringify({
        codeId: id,
        code,
        credits: input.credits,
        creditsExpireAfterMs: input.creditsExpireAfterMs,
        maxRedemptions: input.maxRedemptions,
        redeemableUntil: input.redeemableUntil,
        token: input.token,
      }), now);
      return { ok: true, replayed: false, code: viewOf(db, s.byId.get(id)!, now) };
    })
    .immediate();
}

export type DisableCodeResult =
  | { ok: true; code: RedeemCodeView }
  | { ok: false; reason: "not_found" | "already_disabled" | "not_admin"; message: string };

/** Disabling is final (a new code is cheap) and keeps the row: its redemptions still name it. */
export function disableRedeemCode(db: AppDb, input: { adminId: number; codeId: number }, now = Date.now()): DisableCodeResult {
  const s = stmts(db);
  return db.sqlite
    .transaction((): DisableCodeResult => {
      if (!s.isAdmin.get(input.adminId)) return { ok: false, reason: "not_admin", message: "Only an administrator can disable codes." };
      const row = s.byId.get(input.codeId);
      if (!row) return { ok: false, reason: "not_found", message: "There is no such code: nothing was changed." };
      if (!s.disable.get(now, input.codeId)) {
        return { ok: false, reason: "already_disabled", message: `The code ${formatCode(row.code)} is already disabled: nothing was changed.` };
      }
      s.audit.run(input.adminId, AUDIT_ACTIONS.codeDisable, null, JSON.stringify({
        codeId: row.id,
        code: row.code,
        redemptionCount: row.redemptionCount,
        maxRedemptions: row.maxRedemptions,
      }), now);
      return { ok: true, code: viewOf(db, s.byId.get(input.codeId)!, now) };
    })
    .immediate();
}

function statusOf(row: CodeRow, now: number): RedeemCodeView["status"] {
  if (row.disabledAt !== null) return "disabled";
  if (row.redeemableUntil !== null && now > row.redeemableUntil) return "expired";
  if (row.redemptionCount >= row.maxRedemptions) return "used_up";
  return "active";
}

function viewOf(db: AppDb, row: CodeRow, now: number, createdByEmail?: string): RedeemCodeView {
  const { createdBy, ...rest } = row;
  const email = createdByEmail ?? db.sqlite.prepare<[number], { email: string }>("SELECT email FROM users WHERE id = ?").get(createdBy)?.email ?? "";
  return { ...rest, createdByEmail: email, status: statusOf(row, now) };
}

/** The newest codes first, with how often each was used. */
export function listRedeemCodes(db: AppDb, opts: { limit?: number; now?: number } = {}): RedeemCodeView[] {
  const now = opts.now ?? Date.now();
  const limit = Math.max(1, Math.min(500, opts.limit ?? 200));
  return stmts(db).list.all(limit).map(({ createdByEmail, ...row }) => viewOf(db, row, now, createdByEmail));
}

export function getRedeemCode(db: AppDb, codeId: number, now = Date.now()): RedeemCodeView | null {
  const row = stmts(db).byId.get(codeId);
  return row ? viewOf(db, row, now) : null;
}
