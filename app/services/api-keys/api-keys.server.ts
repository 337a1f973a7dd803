/**
 * API keys: issue, list, revoke, and find the key a request presents (docs/decisions/021-api-keys.md).
 *
 * A key is shown once, when it is issued; only its SHA-256 is stored, so a copy of the database
 * (a backup) holds no usable key. Lookup is by that hash (an index), then the stored and computed
 * hashes are compared with timingSafeEqual. Keys are never deleted, only revoked: the ledger rows
 * spent through a key keep naming it. What a key spent this month is the ledger's figure
 * (keySpendThisMonth), the same one its monthly limit is checked against.
 */
import crypto from "node:crypto";
import { and, desc, eq, isNull, sql } from "drizzle-orm";
import type { AppDb } from "#db/client.server";
import { perConnection, prepared } from "#db/prepared.server";
import { apiKeys, users, type ApiKeyRow, type User } from "#db/schema";
import { API_KEY_PATTERN, API_KEY_PREFIX_LENGTH } from "~/utils/api-key-schemas";
import { keySpendThisMonth } from "../money/ledger.server";

/** What a request made through a key carries down to the ledger: which key, and its limit. */
export type ApiKeyRef = { id: number; name: string; monthlyCreditLimit: number | null };

export type ApiKeyView = {
  id: number;
  name: string;
  prefix: string;
  monthlyCreditLimit: number | null;
  spentThisMonth: number;
  createdAt: string;
  lastUsedAt: string | null;
};

export type IssuedKey = { id: number; key: string; name: string; prefix: string; monthlyCreditLimit: number | null; createdAt: string };

/** last_used_at is written at most this often per key, so a busy key does not write on every request. */
const LAST_USED_RESOLUTION_MS = 60_000;

export function hashApiKey(key: string): string {
  return crypto.createHash("sha256").update(key, "utf8").digest("hex");
}

function newKey(): string {
  return `csk_${crypto.randomBytes(32).toString("base64url")}`;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** Creates a key for the user. `name` and `monthlyCreditLimit` are already validated (ApiKeyCreateSchema). */
export function issueApiKey(db: AppDb, input: { userId: number; name: string; monthlyCreditLimit: number | null; now?: number }): IssuedKey {
  const key = newKey();
  const row = db.orm
    .insert(apiKeys)
    .values({
      userId: input.userId,
      name: input.name,
      prefix: key.slice(0, API_KEY_PREFIX_LENGTH),
      keyHash: hashApiKey(key),
      monthlyCreditLimit: input.monthlyCreditLimit,
      createdAt: input.now ?? Date.now(),
    })
    .returning()
    .get();
  return { id: row.id, key, name: row.name, prefix: row.prefix, monthlyCreditLimit: row.monthlyCreditLimit, createdAt: iso(row.createdAt)! };
}

/** The user's keys that still work, newest first, with what each spent this UTC month. */
export function listApiKeys(db: AppDb, userId: number, now: number = Date.now()): ApiKeyView[] {
  const rows = db.orm
    .select()
    .from(apiKeys)
    .where(and(eq(apiKeys.userId, userId), isNull(apiKeys.revokedAt)))
    .orderBy(desc(apiKeys.createdAt), desc(apiKeys.id))
    .all();
  return rows.map((row) => ({
    id: row.id,
    name: row.name,
    prefix: row.prefix,
    monthlyCreditLimit: row.monthlyCreditLimit,
    spentThisMonth: keySpendThisMonth(db, row.id, now),
    createdAt: iso(row.createdAt)!,
    lastUsedAt: iso(row.lastUsedAt),
  }));
}

/** Revokes one of the user's keys: it stops working at once. Another user's key is not_found. */
export function revokeApiKey(db: AppDb, input: { userId: number; id: number; now?: number }): { ok: true } | { ok: false; reason: "not_found" } {
  const row = db.orm.select({ userId: apiKeys.userId, revokedAt: apiKeys.revokedAt }).from(apiKeys).where(eq(apiKeys.id, input.id)).get();
  if (!row || row.userId !== input.userId || row.revokedAt !== null) return { ok: false, reason: "not_found" };
  db.orm
    .update(apiKeys)
    .set({ revokedAt: input.now ?? Date.now() })
    .where(and(eq(apiKeys.id, input.id), isNull(apiKeys.revokedAt)))
    .run();
  return { ok: true };
}

export type KeyAuth = { ok: true; user: User; apiKey: ApiKeyRef } | { ok: false; reason: "invalid_api_key" };

/**
 * The live key `presented` names, with its user; invalid_api_key for a malformed, unknown or
 * revoked key, or one whose account is gone.
 */
export function authenticateApiKey(db: AppDb, presented: string, now: number = Date.now()): KeyAuth {
  if (!API_KEY_PATTERN.test(presented)) return { ok: false, reason: "invalid_api_key" };
  const hash = hashApiKey(presented);
  const found = prepared(db, "apiKeyByHash", (d) =>
    d.orm
      .select({ key: apiKeys, user: users })
      .from(apiKeys)
      .innerJoin(users, eq(users.id, apiKeys.userId))
      .where(eq(apiKeys.keyHash, sql.placeholder("hash")))
      .prepare(),
  ).get({ hash });
  if (!found || !sameHash(found.key.keyHash, hash)) return { ok: false, reason: "invalid_api_key" };
  if (found.key.revokedAt !== null || found.user.deletedAt !== null) return { ok: false, reason: "invalid_api_key" };
  touch(db, found.key, now);
  return { ok: true, user: found.user, apiKey: { id: found.key.id, name: found.key.name, monthlyCreditLimit: found.key.monthlyCreditLimit } };
}

function sameHash(stored: string, computed: string): boolean {
  const a = Buffer.from(stored, "hex");
  const b = Buffer.from(computed, "hex");
  return a.length === b.length && crypto.timingSafeEqual(a, b);
}

const touchKey = perConnection((sqlite) =>
  sqlite.prepare<[number, number, number]>(
    "UPDATE api_keys SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at <= ?)",
  ),
);

function touch(db: AppDb, key: ApiKeyRow, now: number): void {
  if (key.lastUsedAt !== null && now - key.lastUsedAt < LAST_USED_RESOLUTION_MS) return;
  touchKey(db).run(now, key.id, now - LAST_USED_RESOLUTION_MS);
}
