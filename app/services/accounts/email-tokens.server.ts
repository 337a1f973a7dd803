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
import { and, eq, isNull } from "drizzle-orm";
import type { AppDb } from "#db/client.server";
import { emailTokens, type EmailToken, type EmailTokenPurpose } from "#db/schema";

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

/**
 * Creates a token and returns the raw value (to put in the mail, never stored). Earlier unused
 * tokens of the same account and purpose stop working: only the newest link counts, so a resend
 * also retires a link that may have leaked.
 */
export function issueToken(
  db: AppDb,
  input: { userId: number; purpose: EmailTokenPurpose; email: string; ttlMs: number; now?: number },
): string {
  const now = input.now ?? Date.now();
  const raw = crypto.randomBytes(32).toString("base64url");
  db.sqlite
    .transaction(() => {
      db.orm
        .delete(emailTokens)
        .where(and(eq(emailTokens.userId, input.userId), eq(emailTokens.purpose, input.purpose), isNull(emailTokens.usedAt)))
        .run();
      db.orm
        .insert(emailTokens)
        .values({ userId: input.userId, purpose: input.purpose, tokenHash: hashToken(raw), email: input.email, expiresAt: now + input.ttlMs, createdAt: now })
        .run();
    })
    .immediate();
  return raw;
}

function lookup(db: AppDb, purpose: EmailTokenPurpose, raw: unknown): EmailToken | undefined {
  if (!isWellFormedToken(raw)) return undefined;
  return db.orm
    .select()
    .from(emailTokens)
    .where(and(eq(emailTokens.tokenHash, hashToken(raw)), eq(emailTokens.purpose, purpose)))
    .get();
}

function classify(token: EmailToken | undefined, now: number): TokenCheck {
  if (!token) return { ok: false, reason: "invalid" };
  if (token.usedAt !== null) return { ok: false, reason: "used" };
  if (token.expiresAt <= now) return { ok: false, reason: "expired" };
  return { ok: true, token };
}

/** Reads a token without using it (the GET page that shows the confirm button). */
export function peekToken(db: AppDb, purpose: EmailTokenPurpose, raw: unknown, now = Date.now()): TokenCheck {
  return classify(lookup(db, purpose, raw), now);
}

/**
 * The same checks, including a refused token's row (so a page can offer to send a new link to the
 * account an expired link belonged to).
 */
export function inspectToken(db: AppDb, purpose: EmailTokenPurpose, raw: unknown): EmailToken | undefined {
  return lookup(db, purpose, raw);
}

/** Uses the token: exactly one caller ever gets ok, however many race for it. */
export function consumeToken(db: AppDb, purpose: EmailTokenPurpose, raw: unknown, now = Date.now()): TokenCheck {
  if (!isWellFormedToken(raw)) return { ok: false, reason: "invalid" };
  const tokenHash = hashToken(raw);
  const used = db.sqlite
    .prepare<[number, string, string, number], EmailToken>(
      `UPDATE email_tokens SET used_at = ? WHERE token_hash = ? AND purpose = ? AND used_at IS NULL AND expires_at > ?
       RETURNING id, user_id AS userId, purpose, token_hash AS tokenHash, email, expires_at AS expiresAt, used_at AS usedAt, created_at AS createdAt`,
    )
    .get(now, tokenHash, purpose, now);
  if (used) return { ok: true, token: used };
  return classify(lookup(db, purpose, raw), now);
}

/** Ends a user's unused tokens of one purpose (a newer link replaces them, or they lost their point:
 * a changed password ends the reset links, a changed address ends the links sent to the old one). */
export function revokeUnusedTokens(db: AppDb, userId: number, purpose: EmailTokenPurpose, now = Date.now()): number {
  return db.orm
    .update(emailTokens)
    .set({ usedAt: now })
    .where(and(eq(emailTokens.userId, userId), eq(emailTokens.purpose, purpose), isNull(emailTokens.usedAt)))
    .run().changes;
}
