/**
 * Single-use mail tokens for password reset and address change. Same shape as the verification
 * worker's email-tokens.server.ts, so the two merge into one module later.
 *
 * The raw token (32 random bytes, base64url) exists only in the mail; the table keeps its SHA-256,
 * so a copy of the database opens nothing. Consuming is ONE guarded UPDATE … RETURNING: two
 * parallel requests with the same link cannot both use it.
 */
import crypto from "node:crypto";
import { and, eq, gt, isNull } from "drizzle-orm";
import type { AppDb } from "#db/client.server";
import { emailTokens, type EmailToken, type EmailTokenPurpose } from "#db/schema";

export type TokenRefusal = { ok: false; reason: "invalid" | "used" | "expired" };
export type TokenResult = { ok: true; token: EmailToken } | TokenRefusal;

// A link is pasted, wrapped or truncated by mail clients; anything not shaped like ours is
// refused before hashing, so a hostile value never reaches a query as more than a hash.
const RAW_TOKEN = /^[A-Za-z0-9_-]{43}$/;

export function hashToken(raw: string): string {
  return crypto.createHash("sha256").update(raw).digest("hex");
}

/** Stores a new token and returns the raw one (for the mail only). */
export function issue(db: AppDb, input: { userId: number; purpose: EmailTokenPurpose; email: string; ttlMs: number }, now = Date.now()): string {
  const raw = crypto.randomBytes(32).toString("base64url");
  db.orm
    .insert(emailTokens)
    .values({ userId: input.userId, purpose: input.purpose, email: input.email, tokenHash: hashToken(raw), expiresAt: now + input.ttlMs, createdAt: now })
    .run();
  return raw;
}

function find(db: AppDb, purpose: EmailTokenPurpose, raw: unknown): EmailToken | undefined {
  if (typeof raw !== "string" || !RAW_TOKEN.test(raw)) return undefined;
  return db.orm
    .select()
    .from(emailTokens)
    .where(and(eq(emailTokens.tokenHash, hashToken(raw)), eq(emailTokens.purpose, purpose)))
    .get();
}

function verdictOf(row: EmailToken | undefined, now: number): TokenResult {
  if (!row) return { ok: false, reason: "invalid" };
  if (row.usedAt !== null) return { ok: false, reason: "used" };
  if (row.expiresAt <= now) return { ok: false, reason: "expired" };
  return { ok: true, token: row };
}

/** For GET pages: says whether the link would work, changes nothing. */
export function peek(db: AppDb, purpose: EmailTokenPurpose, raw: unknown, now = Date.now()): TokenResult {
  return verdictOf(find(db, purpose, raw), now);
}

/** Uses the token, once: the UPDATE's guard decides between parallel requests. */
export function consume(db: AppDb, purpose: EmailTokenPurpose, raw: unknown, now = Date.now()): TokenResult {
  if (typeof raw !== "string" || !RAW_TOKEN.test(raw)) return { ok: false, reason: "invalid" };
  const used = db.orm
    .update(emailTokens)
    .set({ usedAt: now })
    .where(
      and(
        eq(emailTokens.tokenHash, hashToken(raw)),
        eq(emailTokens.purpose, purpose),
        isNull(emailTokens.usedAt),
        gt(emailTokens.expiresAt, now),
      ),
    )
    .returning()
    .get();
  if (used) return { ok: true, token: used };
  // Lost the race, or never valid: say which, from the row as it is now.
  const row = find(db, purpose, raw);
  return verdictOf(row, now).ok ? { ok: false, reason: "used" } : (verdictOf(row, now) as TokenRefusal);
}

/** Ends a user's unused tokens of one purpose (a newer link replaces them, or they lost their point). */
export function revokeUnused(db: AppDb, userId: number, purpose: EmailTokenPurpose, now = Date.now()): number {
  return db.orm
    .update(emailTokens)
    .set({ usedAt: now })
    .where(and(eq(emailTokens.userId, userId), eq(emailTokens.purpose, purpose), isNull(emailTokens.usedAt)))
    .run().changes;
}
