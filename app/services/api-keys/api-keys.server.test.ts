import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDb, insertUser } from "../../../tests/support/db";
import { scrubApiKeys } from "../logger.server";
import { grant, hold } from "../money/ledger.server";
import { authenticateApiKey, hashApiKey, issueApiKey, listApiKeys, revokeApiKey } from "./api-keys.server";

let db: ReturnType<typeof createTestDb>;
let n = 0;
beforeAll(async () => {
  db = createTestDb();
});
afterAll(() => db.remove());

const user = () => insertUser(db, `keys-${++n}@example.com`);
const lastUsed = (id: number) => (db.sqlite.prepare("select last_used_at as t from api_keys where id = ?").get(id) as { t: number | null }).t;

describe("api keys", () => {
  it("stores only the SHA-256 of the key and its prefix", async () => {
    const issued = await issueApiKey(db, { userId: user(), name: "ci", monthlyCreditLimit: null });
    expect(issued.key).toMatch(/^csk_[A-Za-z0-9_-]{43}$/);
    const row = db.sqlite.prepare("select * from api_keys where id = ?").get(issued.id) as Record<string, unknown>;
    expect(row.key_hash).toBe(hashApiKey(issued.key));
    expect(row.prefix).toBe(issued.key.slice(0, 12));
    expect(JSON.stringify(row)).not.toContain(issued.key);
  });

  it("two keys are never the same", async () => {
    const userId = user();
    const keys = new Set(await Promise.all(Array.from({ length: 50 }, async () => (await issueApiKey(db, { userId, name: "k", monthlyCreditLimit: null })).key)));
    expect(keys.size).toBe(50);
  });

  it("records the last use at most once a minute", async () => {
    const { id, key } = await issueApiKey(db, { userId: user(), name: "ci", monthlyCreditLimit: null });
    const t0 = 1_800_000_000_000;
    expect((await authenticateApiKey(db, key, t0)).ok).toBe(true);
    expect(lastUsed(id)).toBe(t0);
    await authenticateApiKey(db, key, t0 + 59_000);
    expect(lastUsed(id)).toBe(t0);
    await authenticateApiKey(db, key, t0 + 60_000);
    expect(lastUsed(id)).toBe(t0 + 60_000);
  });

  it("refuses a revoked key, a key of a deleted account, an unknown or malformed key", async () => {
    const userId = user();
    const a = await issueApiKey(db, { userId, name: "a", monthlyCreditLimit: 5 });
    expect(await authenticateApiKey(db, a.key)).toMatchObject({ ok: true, user: { id: userId }, apiKey: { id: a.id, name: "a", monthlyCreditLimit: 5 } });
    expect(await revokeApiKey(db, { userId, id: a.id })).toEqual({ ok: true });
    expect(await authenticateApiKey(db, a.key)).toEqual({ ok: false, reason: "invalid_api_key" });
    const gone = user();
    const b = await issueApiKey(db, { userId: gone, name: "b", monthlyCreditLimit: null });
    db.sqlite.prepare("update users set deleted_at = 1 where id = ?").run(gone);
    expect((await authenticateApiKey(db, b.key)).ok).toBe(false);
    for (const bad of ["", "csk_", `csk_${"x".repeat(43)}`, `${a.key.slice(0, -1)}`, `sk_${a.key.slice(4)}`]) {
      expect((await authenticateApiKey(db, bad)).ok, bad).toBe(false);
    }
  });

  it("revokes only the owner's key, once; lists only working keys with this month's spend", async () => {
    const owner = user();
    const other = user();
    await grant(db, { userId: owner, amount: 50, type: "bonus", key: `seed:${owner}`, description: "seed" });
    const a = await issueApiKey(db, { userId: owner, name: "a", monthlyCreditLimit: 20, now: 1 });
    const b = await issueApiKey(db, { userId: owner, name: "b", monthlyCreditLimit: null, now: 2 });
    await hold(db, { userId: owner, cost: 7, key: `h:${a.id}`, description: "x", ttlSeconds: 60, apiKey: { id: a.id, monthlyLimit: 20 } });
    expect(await revokeApiKey(db, { userId: other, id: a.id })).toEqual({ ok: false, reason: "not_found" });
    expect((await listApiKeys(db, owner)).map((k) => [k.name, k.spentThisMonth])).toEqual([["b", 0], ["a", 7]]);
    expect(await revokeApiKey(db, { userId: owner, id: b.id })).toEqual({ ok: true });
    expect(await revokeApiKey(db, { userId: owner, id: b.id })).toEqual({ ok: false, reason: "not_found" });
    expect((await listApiKeys(db, owner)).map((k) => k.name)).toEqual(["a"]);
  });
});

describe("scrubApiKeys", () => {
  it("keeps a prefix of every key-like string and nothing more", async () => {
    const key = `csk_${"Ab9_-".repeat(8)}xyz`;
    const line = JSON.stringify({ path: `/api/generations/${key}`, err: `bad ${key}!` });
    const scrubbed = scrubApiKeys(line);
    expect(scrubbed).not.toContain(key);
    expect(scrubbed).toContain(`${key.slice(0, 12)}…[redacted]`);
    expect(scrubApiKeys('{"msg":"csk_ is our prefix"}')).toBe('{"msg":"csk_ is our prefix"}');
  });
});
