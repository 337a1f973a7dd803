/**
 * Single-use links sent by mail (verify an address, reset a password, confirm a new address).
 *
 * The raw token exists only in the mail: 32 random bytes, base64url (43 characters). The table
 * keeps its SHA-256, so a copy of the database verifies nothing. A token is used by one atomic
 * UPDATE … WHERE used_at IS NULL AND expires_at > now, so of N parallel requests with the same link
 * exactly one gets it; call `consume` inside the transaction of what the link does, so the token
 * is spent if and only if that work commits.
 */
import crypto from "node:crypto";
import type { EmailToken, EmailTokenPurpose } from "#db/schema";
import { inWrite, readerOf, type SqlTarget } from "../sql-target.server";

export type TokenRefusalReason = "invalid" | "used" | "expired";
export type TokenRefusal = { ok: false; reason: TokenRefusalReason };
export type TokenCheck = { ok: true; token: EmailToken } | TokenRefusal;

/** What a raw token looks like; anything else is refused before touching the database. */
const RAW_TOKEN = /^[A-Za-z0-9_-]{43}$/;

export function isWellFormedToken(raw: unknown): raw is string {
  return typeof raw === "string" && RAW_TOKEN.test(raw);
}

export function hashToken(raw: string): string {
  return crypto.createHash("sha256").update(raw, "utf8").digest("hex");
}

const TOKEN_COLUMNS = `id, user_id AS "userId", purpose, token_hash AS "tokenHash", email, expires_at AS "expiresAt", used_at AS "usedAt", created_at AS "createdAt"`;

/**
 * Creates a token and returns the raw value (to put in the mail, never stored). Earlier unused
 * tokens of the same account and purpose stop working: only the newest link counts, so a resend
 * also retires a link that may have leaked. `db` may be the `tx` of the body that sends the mail.
 */
export async function issueToken(
  db: SqlTarget,
  input: { userId: number; purpose: EmailTokenPurpose; email: string; ttlMs: number; now?: number },
): Promise<string> {
  const now = input.now ?? Date.now();
  const raw = crypto.randomBytes(32).toString("base64url");
  await inWrite(db, async (tx) => {
    await tx.run("DELETE FROM email_tokens WHERE user_id = ? AND purpose = ? AND used_at IS NULL", [input.userId, input.purpose]);
    await tx.run("INSERT INTO email_tokens (user_id, purpose, token_hash, email, expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?)", [
      input.userId,
      input.purpose,
      hashToken(raw),
      input.email,
      now + input.ttlMs,
      now,
    ]);
  });
  return raw;
}

async function lookup(db: SqlTarget, purpose: EmailTokenPurpose, raw: unknown): Promise<EmailToken | undefined> {
  if (!isWellFormedToken(raw)) return undefined;
  return readerOf(db).get<EmailToken>(`SELECT ${TOKEN_COLUMNS} FROM email_tokens WHERE token_hash = ? AND purpose = ?`, [hashToken(raw), purpose]);
}

export function classifyToken(token: EmailToken | undefined, now: number): TokenCheck {
  if (!token) return { ok: false, reason: "invalid" };
  if (token.usedAt !== null) return { ok: false, reason: "used" };
  if (token.expiresAt <= now) return { ok: false, reason: "expired" };
  return { ok: true, token };
}

/** Reads a token without using it (the GET page that shows the confirm button). */
export async function peekToken(db: SqlTarget, purpose: EmailTokenPurpose, raw: unknown, now = Date.now()): Promise<TokenCheck> {
  return classifyToken(await lookup(db, purpose, raw), now);
}

/**
 * The token's row whatever its state, a refused token's included (so a page can offer to send a
 * new link to the account an expired link belonged to).
 */
export async function inspectToken(db: SqlTarget, purpose: EmailTokenPurpose, raw: unknown): Promise<EmailToken | undefined> {
  return lookup(db, purpose, raw);
}

const CONSUME = `UPDATE email_tokens SET used_at = ? WHERE token_hash = ? AND purpose = ? AND used_at IS NULL AND expires_at > ?
  RETURNING ${TOKEN_COLUMNS}`;

/**
 * Uses the token: exactly one caller ever gets ok, however many race for it — one guarded UPDATE
 * (on PostgreSQL the losers wait for the winner's row lock, then find used_at set). Pass the `tx`
 * of the body doing what the link does, so the token is spent if and only if that work commits.
 */
export async function consumeToken(db: SqlTarget, purpose: EmailTokenPurpose, raw: unknown, now = Date.now()): Promise<TokenCheck> {
  if (!isWellFormedToken(raw)) return { ok: false, reason: "invalid" };
  const used = await inWrite(db, (tx) => tx.get<EmailToken>(CONSUME, [now, hashToken(raw), purpose, now]));
  if (used) return { ok: true, token: used };
  return classifyToken(await lookup(db, purpose, raw), now);
}

/** Ends a user's unused tokens of one purpose (a newer link replaces them, or they lost their point:
 * a changed password ends the reset links, a changed address ends the links sent to the old one). */
export async function revokeUnusedTokens(db: SqlTarget, userId: number, purpose: EmailTokenPurpose, now = Date.now()): Promise<number> {
  return (await readerOf(db).run("UPDATE email_tokens SET used_at = ? WHERE user_id = ? AND purpose = ? AND used_at IS NULL", [now, userId, purpose])).changes;
}
