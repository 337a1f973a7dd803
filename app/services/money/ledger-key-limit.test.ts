/**
 * The monthly credit limit of an API key, as the ledger enforces it inside the hold's own write
 * transaction: examples of each branch, then a property over random holds, posts, voids and
 * month changes against a simple model.
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { utcMonthStart } from "../../utils/time";
import { createTestDb, insertUser } from "../../../tests/support/db";
import { getBalance, grant, hold, keySpendThisMonth, LedgerError, postHold, voidHold } from "./ledger.server";
import { verifyLedger } from "./ledger-verify.server";

let db: ReturnType<typeof createTestDb>;
let n = 0;

beforeAll(async () => {
  db = createTestDb();
});
afterAll(() => db.remove());

/** A user with `credits` and one API key of theirs (the row the ledger's rows point at). */
async function userWithKey(credits: number, limit: number | null) {
  const userId = insertUser(db, `key-limit-${++n}@example.com`);
  if (credits > 0) await grant(db, { userId, amount: credits, type: "bonus", key: `seed:${userId}`, description: "seed" });
  const keyId = Number(
    db.sqlite
      .prepare("insert into api_keys (user_id, name, prefix, key_hash, monthly_credit_limit) values (?, 'k', 'csk_x', ?, ?)")
      .run(userId, `hash-${n}`, limit).lastInsertRowid,
  );
  return { userId, keyId, apiKey: { id: keyId, monthlyLimit: limit } };
}

const MAY = Date.UTC(2026, 4, 20, 12);
const JUNE = Date.UTC(2026, 5, 1, 0, 0, 0, 0);

const held = async (userId: number, apiKey: { id: number; monthlyLimit: number | null } | null, cost: number, now: number, key = `h:${++n}`) =>
  await hold(db, { userId, cost, key, description: "hold", ttlSeconds: 86_400 * 40, now, apiKey });

function clean() {
  expect(verifyLedger(db, { sweepGraceMs: Number.MAX_SAFE_INTEGER, now: MAY }).violations).toEqual([]);
}

describe("utcMonthStart", () => {
  it.each([
    [Date.UTC(2026, 4, 20, 12), Date.UTC(2026, 4, 1)],
    [Date.UTC(2026, 4, 1, 0, 0, 0, 0), Date.UTC(2026, 4, 1)],
    [Date.UTC(2026, 4, 31, 23, 59, 59, 999), Date.UTC(2026, 4, 1)],
    [Date.UTC(2026, 0, 1, 0, 0, 0, 0), Date.UTC(2026, 0, 1)],
    [Date.UTC(2025, 11, 31, 23, 59, 59, 999), Date.UTC(2025, 11, 1)],
    [Date.UTC(2024, 1, 29, 8), Date.UTC(2024, 1, 1)],
  ])("%i starts its month at %i", (ms, start) => {
    expect(utcMonthStart(ms)).toBe(start);
  });
});

describe("hold through an API key", () => {
  it("records the key on the row and counts it in the month's spend", async () => {
    const { userId, keyId, apiKey } = await userWithKey(100, 20);
    const r = await held(userId, apiKey, 5, MAY);
    expect(r.ok && r.transaction.apiKeyId).toBe(keyId);
    expect(keySpendThisMonth(db, keyId, MAY)).toBe(5);
    clean();
  });

  it("allows holds up to exactly the limit and refuses the one past it, changing nothing", async () => {
    const { userId, apiKey } = await userWithKey(100, 10);
    expect((await held(userId, apiKey, 4, MAY)).ok).toBe(true);
    expect((await held(userId, apiKey, 6, MAY)).ok).toBe(true);
    const before = getBalance(db, userId);
    const rows = db.sqlite.prepare("select count(*) as c from transactions").get();
    expect(await held(userId, apiKey, 1, MAY)).toEqual({ ok: false, reason: "key_limit_reached", limit: 10, spentThisMonth: 10, needed: 1 });
    expect(getBalance(db, userId)).toEqual(before);
    expect(db.sqlite.prepare("select count(*) as c from transactions").get()).toEqual(rows);
    clean();
  });

  it("counts pending and posted usage, not voided holds", async () => {
    const { userId, keyId, apiKey } = await userWithKey(100, 10);
    const a = await held(userId, apiKey, 5, MAY);
    const b = await held(userId, apiKey, 5, MAY);
    if (!a.ok || !b.ok) throw new Error("set-up");
    await postHold(db, a.transaction.id, MAY);
    await voidHold(db, b.transaction.id, "provider_failed", MAY);
    expect(keySpendThisMonth(db, keyId, MAY)).toBe(5);
    expect((await held(userId, apiKey, 5, MAY)).ok).toBe(true);
    expect(await held(userId, apiKey, 1, MAY)).toMatchObject({ ok: false, reason: "key_limit_reached", spentThisMonth: 10 });
    clean();
  });

  it("starts again at the first millisecond of the next UTC month", async () => {
    const { userId, keyId, apiKey } = await userWithKey(100, 10);
    expect((await held(userId, apiKey, 10, JUNE - 1)).ok).toBe(true);
    expect(await held(userId, apiKey, 1, JUNE - 1)).toMatchObject({ reason: "key_limit_reached" });
    expect(keySpendThisMonth(db, keyId, JUNE)).toBe(0);
    expect((await held(userId, apiKey, 10, JUNE)).ok).toBe(true);
  });

  it("is checked before the balance, and the balance still applies under the limit", async () => {
    const { userId, apiKey } = await userWithKey(8, 100);
    expect(await held(userId, apiKey, 9, MAY)).toMatchObject({ ok: false, reason: "insufficient_credits", balance: 8 });
    const tight = await userWithKey(100, 3);
    expect(await held(tight.userId, tight.apiKey, 9, MAY)).toMatchObject({ ok: false, reason: "key_limit_reached", spentThisMonth: 0, limit: 3 });
  });

  it("has no monthly check when the limit is null, and a hold without a key is not counted", async () => {
    const { userId, keyId, apiKey } = await userWithKey(100, null);
    expect((await held(userId, apiKey, 60, MAY)).ok).toBe(true);
    expect((await held(userId, null, 30, MAY)).ok).toBe(true);
    expect(keySpendThisMonth(db, keyId, MAY)).toBe(60);
  });

  it("answers a replay with the first hold even once the limit is reached", async () => {
    const { userId, apiKey } = await userWithKey(100, 5);
    const first = await held(userId, apiKey, 5, MAY, "same-job");
    const again = await held(userId, apiKey, 5, MAY, "same-job");
    expect(again).toMatchObject({ ok: true, replayed: true });
    expect(first.ok && again.ok && again.transaction.id === first.transaction.id).toBe(true);
  });

  it.each([0, -1, 1.5, Number.NaN, 1e12, "10" as unknown as number])("refuses a monthly limit of %s", async (limit) => {
    const { userId, keyId } = await userWithKey(100, null);
    await expect(held(userId, { id: keyId, monthlyLimit: limit }, 1, MAY)).rejects.toThrow(LedgerError);
  });

  it.each([0, -3, 2.5])("refuses a key id of %s", async (id) => {
    const { userId } = await userWithKey(100, null);
    await expect(held(userId, { id, monthlyLimit: null }, 1, MAY)).rejects.toThrow(LedgerError);
  });

  it("the verifier reports a key that spent past its limit or a row naming another user's key", async () => {
    const other = createTestDb();
    try {
      const a = insertUser(other, "a@example.com");
      const b = insertUser(other, "b@example.com");
      await grant(other, { userId: a, amount: 50, type: "bonus", key: "seed:a", description: "seed" });
      await grant(other, { userId: b, amount: 50, type: "bonus", key: "seed:b", description: "seed" });
      const keyOfA = Number(other.sqlite.prepare("insert into api_keys (user_id, name, prefix, key_hash, monthly_credit_limit) values (?, 'k', 'p', 'h1', 5)").run(a).lastInsertRowid);
      const r = await hold(other, { userId: a, cost: 5, key: "k1", description: "x", ttlSeconds: 60, now: MAY, apiKey: { id: keyOfA, monthlyLimit: 5 } });
      expect(r.ok).toBe(true);
      // Corruptions no code path makes: a later hold written past the limit, a row of B naming A's key.
      await hold(other, { userId: a, cost: 5, key: "k2", description: "x", ttlSeconds: 60, now: MAY, apiKey: { id: keyOfA, monthlyLimit: 100 } });
      await hold(other, { userId: b, cost: 1, key: "k3", description: "x", ttlSeconds: 60, now: MAY, apiKey: { id: keyOfA, monthlyLimit: null } });
      const kinds = verifyLedger(other, { sweepGraceMs: Number.MAX_SAFE_INTEGER, now: MAY }).violations.map((v) => v.detail);
      expect(kinds).toEqual(expect.arrayContaining([expect.stringMatching(/spent 11 in 2026-05, past its limit of 5/), expect.stringMatching(/names an API key of user/)]));
    } finally {
      other.remove();
    }
  });
});

type Op = { kind: "hold"; cost: number } | { kind: "post"; pick: number } | { kind: "void"; pick: number } | { kind: "nextMonth" };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant("hold" as const), cost: fc.integer({ min: 1, max: 12 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("post" as const), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("void" as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.constant({ kind: "nextMonth" as const }) },
);

it("property: a key never spends past its limit in a month, and is refused exactly when it would", async () => {
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 1, max: 40 }), fc.array(opArb, { minLength: 1, maxLength: 50 }), async (limit, ops) => {
      const { userId, keyId, apiKey } = await userWithKey(10_000, limit);
      let now = MAY;
      const pending: Array<{ id: number; cost: number; month: number }> = [];
      const spent = new Map<number, number>();
      const month = () => utcMonthStart(now);
      for (const op of ops) {
        if (op.kind === "nextMonth") {
          now = Date.UTC(new Date(now).getUTCFullYear(), new Date(now).getUTCMonth() + 1, 1) + 3_600_000;
        } else if (op.kind === "hold") {
          const before = spent.get(month()) ?? 0;
          const r = await held(userId, apiKey, op.cost, now);
          if (before + op.cost <= limit) {
            expect(r.ok).toBe(true);
            if (r.ok) pending.push({ id: r.transaction.id, cost: op.cost, month: month() });
            spent.set(month(), before + op.cost);
          } else {
            expect(r).toEqual({ ok: false, reason: "key_limit_reached", limit, spentThisMonth: before, needed: op.cost });
          }
        } else if (pending.length > 0) {
          const [h] = pending.splice(op.pick % pending.length, 1);
          if (op.kind === "post") await postHold(db, h.id, now);
          else {
            await voidHold(db, h.id, "test", now);
            spent.set(h.month, spent.get(h.month)! - h.cost);
          }
        }
        expect(keySpendThisMonth(db, keyId, now)).toBe(spent.get(month()) ?? 0);
        expect(keySpendThisMonth(db, keyId, now)).toBeLessThanOrEqual(limit);
      }
    }),
    { numRuns: 60 },
  );
  clean();
});
