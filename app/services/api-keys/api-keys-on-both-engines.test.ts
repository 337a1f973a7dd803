// API keys on SQLite and on a real PostgreSQL (decision 036): issue, the one-statement lookup every
// API request makes, last_used_at at most once a minute, revocation once, and the list with what
// each key spent this UTC month (the ledger's readKeySpendThisMonth).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeEngines, ENGINES, insertUserOn, type EngineDb } from "../../../tests/support/engines";
import { grant, hold, postHold, voidHold } from "../money/ledger.server";
import { authenticateApiKey, hashApiKey, issueApiKey, listApiKeys, revokeApiKey } from "./api-keys.server";

afterAll(async () => {
  await closeEngines();
});

const T = Date.UTC(2026, 11, 1, 12);

describe.each(ENGINES)("API keys on $name", (engine) => {
  let db: EngineDb;
  let n = 0;
  beforeAll(async () => {
    db = await engine.open();
  }, 60_000);
  const newUser = () => insertUserOn(db, `keys-${++n}-${engine.name.toLowerCase()}@example.com`);
  const lastUsed = async (id: number) => (await db.sql.get<{ t: number | null }>("SELECT last_used_at AS t FROM api_keys WHERE id = ?", [id]))!.t;

  it("issues a key stored only as its SHA-256 and finds it with its account", async () => {
    const userId = await newUser();
    const issued = await issueApiKey(db, { userId, name: "ci", monthlyCreditLimit: 40, now: T });
    expect(issued).toEqual({ id: expect.any(Number), key: expect.stringMatching(/^csk_[A-Za-z0-9_-]{43}$/), name: "ci", prefix: issued.key.slice(0, 12), monthlyCreditLimit: 40, createdAt: new Date(T).toISOString() });
    const row = await db.sql.get<Record<string, unknown>>("SELECT * FROM api_keys WHERE id = ?", [issued.id]);
    expect(row!.key_hash).toBe(hashApiKey(issued.key));
    expect(JSON.stringify(row)).not.toContain(issued.key);
    const found = await authenticateApiKey(db, issued.key, T);
    expect(found).toEqual({
      ok: true,
      user: expect.objectContaining({ id: userId, role: "user", credits: 0, deletedAt: null, passwordHash: "x" }),
      apiKey: { id: issued.id, name: "ci", monthlyCreditLimit: 40 },
    });
    // The user comes back in drizzle's shape, nothing of the key's columns mixed in.
    if (found.ok) expect(Object.keys(found.user).sort()).toEqual(["createdAt", "credits", "deletedAt", "email", "emailVerifiedAt", "flaggedAt", "flaggedReason", "id", "passwordHash", "role", "stripeCustomerId", "updatedAt"]);
  });

  it("refuses malformed, unknown, revoked keys and keys of a deleted account", async () => {
    const userId = await newUser();
    const live = await issueApiKey(db, { userId, name: "live", monthlyCreditLimit: null });
    const revoked = await issueApiKey(db, { userId, name: "old", monthlyCreditLimit: null });
    expect(await revokeApiKey(db, { userId, id: revoked.id })).toEqual({ ok: true });
    const gone = await newUser();
    const orphan = await issueApiKey(db, { userId: gone, name: "orphan", monthlyCreditLimit: null });
    await db.sql.run("UPDATE users SET deleted_at = ? WHERE id = ?", [T, gone]);
    const hostile = [
      "",
      "csk_",
      `csk_${"x".repeat(43)}`,
      live.key.slice(0, -1),
      `${live.key}x`,
      `sk_${live.key.slice(4)}`,
      live.key.toUpperCase(),
      ` ${live.key}`,
      `csk_${"'".repeat(43)}`,
      `csk_${"%".repeat(43)}`,
      revoked.key,
      orphan.key,
    ];
    for (const bad of hostile) expect(await authenticateApiKey(db, bad, T), bad).toEqual({ ok: false, reason: "invalid_api_key" });
    expect((await authenticateApiKey(db, live.key, T)).ok).toBe(true);
    expect(await lastUsed(revoked.id)).toBeNull(); // a refused key is not "used"
  });

  it("records the last use at most once a minute, whatever the number of requests at once", async () => {
    const { id, key } = await issueApiKey(db, { userId: await newUser(), name: "busy", monthlyCreditLimit: null });
    const results = await Promise.all(Array.from({ length: 20 }, () => authenticateApiKey(db, key, T)));
    expect(results.every((r) => r.ok)).toBe(true);
    expect(await lastUsed(id)).toBe(T);
    await authenticateApiKey(db, key, T + 59_999);
    expect(await lastUsed(id)).toBe(T);
    await Promise.all(Array.from({ length: 20 }, (_, i) => authenticateApiKey(db, key, T + 60_000 + i)));
    const noted = await lastUsed(id);
    expect(noted).toBeGreaterThanOrEqual(T + 60_000);
    expect(noted).toBeLessThan(T + 60_020);
  });

  it("revokes only the owner's key, once, however many revocations race", async () => {
    const owner = await newUser();
    const other = await newUser();
    const key = await issueApiKey(db, { userId: owner, name: "k", monthlyCreditLimit: null });
    expect(await revokeApiKey(db, { userId: other, id: key.id })).toEqual({ ok: false, reason: "not_found" });
    expect((await authenticateApiKey(db, key.key)).ok).toBe(true);
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => revokeApiKey(db, { userId: owner, id: key.id, now: T + i })));
    expect(results.filter((r) => r.ok)).toHaveLength(1);
    expect(results.filter((r) => !r.ok)).toHaveLength(19);
    expect(await revokeApiKey(db, { userId: owner, id: 999_999_999 })).toEqual({ ok: false, reason: "not_found" });
    expect((await authenticateApiKey(db, key.key)).ok).toBe(false);
  });

  it("50 keys issued at once are 50 different keys", async () => {
    const userId = await newUser();
    const keys = await Promise.all(Array.from({ length: 50 }, () => issueApiKey(db, { userId, name: "k", monthlyCreditLimit: null })));
    expect(new Set(keys.map((k) => k.key)).size).toBe(50);
    expect(new Set(keys.map((k) => k.id)).size).toBe(50);
  });

  it("lists the working keys newest first with this month's spend: pending and posted usage, not voided, not last month's", async () => {
    const owner = await newUser();
    const other = await newUser();
    await grant(db.sql, { userId: owner, amount: 100, type: "bonus", key: `seed:${owner}`, description: "seed", now: T - 40 * 86_400_000 });
    const a = await issueApiKey(db, { userId: owner, name: "a", monthlyCreditLimit: 50, now: T - 2 });
    const b = await issueApiKey(db, { userId: owner, name: "b", monthlyCreditLimit: null, now: T - 1 });
    const gone = await issueApiKey(db, { userId: owner, name: "gone", monthlyCreditLimit: null, now: T });
    await issueApiKey(db, { userId: other, name: "not mine", monthlyCreditLimit: null, now: T });
    await revokeApiKey(db, { userId: owner, id: gone.id, now: T });
    const spend = async (key: { id: number }, cost: number, tag: string, now: number) => {
      const h = await hold(db.sql, { userId: owner, cost, key: `h:${tag}:${owner}`, description: "x", ttlSeconds: 3600, now, apiKey: { id: key.id, monthlyLimit: null } });
      if (!h.ok) throw new Error("refused");
      return h.transaction.id;
    };
    await spend(a, 7, "pending", T);
    await postHold(db.sql, await spend(a, 5, "posted", T), T);
    await voidHold(db.sql, await spend(a, 11, "voided", T), "test", T);
    await spend(a, 13, "last-month", Date.UTC(2026, 10, 30, 23, 59));
    await spend(b, 2, "b", T);
    const keys = await listApiKeys(db, owner, T);
    expect(keys.map((k) => [k.name, k.spentThisMonth, k.monthlyCreditLimit])).toEqual([
      ["b", 2, null],
      ["a", 12, 50],
    ]);
    expect(keys[1]).toEqual({ id: a.id, name: "a", prefix: a.prefix, monthlyCreditLimit: 50, spentThisMonth: 12, createdAt: new Date(T - 2).toISOString(), lastUsedAt: null });
    expect(await listApiKeys(db, 987_654, T)).toEqual([]);
  });
});
