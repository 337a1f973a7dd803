/**
 * API keys: issue, list, revoke, and find the key a request presents (docs/decisions/021-api-keys.md).
 *
 * A key is shown once, when it is issued; only its SHA-256 is stored, so a copy of the database
 * (a backup) holds no usable key. Lookup is by that hash (an index), then the stored and computed
 * hashes are compared with timingSafeEqual. Keys are never deleted, only revoked: the ledger rows
 * spent through a key keep naming it. What a key spent this month is the ledger's figure
 * (readKeySpendThisMonth), the same one its monthly limit is checked against.
 */
import crypto from "node:crypto";
import type { PortableDb } from "#db/client.server";
import type { User } from "#db/schema";
import { API_KEY_PATTERN, API_KEY_PREFIX_LENGTH } from "~/utils/api-key-schemas";
import { readKeySpendThisMonth } from "../money/ledger.server";
import { userColumns } from "../users.server";

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
export async function issueApiKey(db: PortableDb, input: { userId: number; name: string; monthlyCreditLimit: number | null; now?: number }): Promise<IssuedKey> {
  const key = newKey();
  const row = (await db.sql.write((tx) =>
    tx.get<{ id: number; name: string; prefix: string; monthlyCreditLimit: number | null; createdAt: number }>(
      `INSERT INTO api_keys (user_id, name, prefix, key_hash, monthly_credit_limit, created_at) VALUES (?, ?, ?, ?, ?, ?)
       RETURNING id, name, prefix, monthly_credit_limit AS "monthlyCreditLimit", created_at AS "createdAt"`,
      [input.userId, input.name, key.slice(0, API_KEY_PREFIX_LENGTH), hashApiKey(key), input.monthlyCreditLimit, input.now ?? Date.now()],
    ),
  ))!;
  return { id: row.id, key, name: row.name, prefix: row.prefix, monthlyCreditLimit: row.monthlyCreditLimit, createdAt: iso(row.createdAt)! };
}

/** The user's keys that still work, newest first, with what each spent this UTC month. */
export async function listApiKeys(db: PortableDb, userId: number, now: number = Date.now()): Promise<ApiKeyView[]> {
  const rows = await db.sql.all<{ id: number; name: string; prefix: string; monthlyCreditLimit: number | null; createdAt: number; lastUsedAt: number | null }>(
    `SELECT id, name, prefix, monthly_credit_limit AS "monthlyCreditLimit", created_at AS "createdAt", last_used_at AS "lastUsedAt"
     FROM api_keys WHERE user_id = ? AND revoked_at IS NULL ORDER BY created_at DESC, id DESC`,
    [userId],
  );
  // One read per key (a user has a handful), each the figure the key's limit is checked against.
  const spent = await Promise.all(rows.map((row) => readKeySpendThisMonth(db, row.id, now)));
  return rows.map((row, i) => ({
    id: row.id,
    name: row.name,
    prefix: row.prefix,
    monthlyCreditLimit: row.monthlyCreditLimit,
    spentThisMonth: spent[i]!,
    createdAt: iso(row.createdAt)!,
    lastUsedAt: iso(row.lastUsedAt),
  }));
}

/** Revokes one of the user's keys: it stops working at once. Another user's key, or one already
 * revoked, is not_found. One guarded statement: two revocations racing, one wins. */
export async function revokeApiKey(db: PortableDb, input: { userId: number; id: number; now?: number }): Promise<{ ok: true } | { ok: false; reason: "not_found" }> {
  const { changes } = await db.sql.run("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND user_id = ? AND revoked_at IS NULL", [
    input.now ?? Date.now(),
    input.id,
    input.userId,
  ]);
  return changes === 1 ? { ok: true } : { ok: false, reason: "not_found" };
}

export type KeyAuth = { ok: true; user: User; apiKey: ApiKeyRef } | { ok: false; reason: "invalid_api_key" };

type KeyWithUser = User & { keyId: number; keyName: string; keyHash: string; keyLimit: number | null; keyLastUsedAt: number | null; keyRevokedAt: number | null };

// The key and its account in one statement: every API request runs it.
const KEY_BY_HASH = `SELECT k.id AS "keyId", k.name AS "keyName", k.key_hash AS "keyHash", k.monthly_credit_limit AS "keyLimit",
    k.last_used_at AS "keyLastUsedAt", k.revoked_at AS "keyRevokedAt", ${userColumns("u")}
  FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.key_hash = ?`;

/**
 * The live key `presented` names, with its user; invalid_api_key for a malformed, unknown or
 * revoked key, or one whose account is gone.
 */
export async function authenticateApiKey(db: PortableDb, presented: string, now: number = Date.now()): Promise<KeyAuth> {
  if (!API_KEY_PATTERN.test(presented)) return { ok: false, reason: "invalid_api_key" };
  const hash = hashApiKey(presented);
  const found = await db.sql.get<KeyWithUser>(KEY_BY_HASH, [hash]);
  if (!found || !sameHash(found.keyHash, hash)) return { ok: false, reason: "invalid_api_key" };
  const { keyId, keyName, keyHash: _hash, keyLimit, keyLastUsedAt, keyRevokedAt, ...user } = found;
  if (keyRevokedAt !== null || user.deletedAt !== null) return { ok: false, reason: "invalid_api_key" };
  await touch(db, keyId, keyLastUsedAt, now);
  return { ok: true, user, apiKey: { id: keyId, name: keyName, monthlyCreditLimit: keyLimit } };
}

function sameHash(stored: string, computed: string): boolean {
  const a = Buffer.from(stored, "hex");
  const b = Buffer.from(computed, "hex");
  return a.length === b.length && crypto.timingSafeEqual(a, b);
}

/** Notes the use at most once a minute: within the minute no write at all (the read decided). */
async function touch(db: PortableDb, keyId: number, lastUsedAt: number | null, now: number): Promise<void> {
  if (lastUsedAt !== null && now - lastUsedAt < LAST_USED_RESOLUTION_MS) return;
  await db.sql.run("UPDATE api_keys SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at <= ?)", [now, keyId, now - LAST_USED_RESOLUTION_MS]);
}
