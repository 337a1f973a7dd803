// Which grants are due an expiry warning, and claiming them, on SQLite and on a real PostgreSQL
// (decision 036). Race: 20 claims of one user's grants at once, one gets them, 19 get nothing.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeEngines, ENGINES, insertUserOn, type EngineDb } from "../../../tests/support/engines";
import { claimExpiryWarnings, usersDueExpiryWarning, type WarningWindow } from "./grant-warnings.server";
import { grant } from "./ledger.server";

afterAll(closeEngines);

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

describe.each(ENGINES)("grant expiry warnings on $name", (engine) => {
  let db: EngineDb;
  let n = 0;
  // Each test its own slice of the clock, so grants of one test are never due in another.
  let T0 = Date.UTC(2026, 11, 7, 9);
  beforeAll(async () => {
    db = await engine.open();
  }, 60_000);

  async function user(verified = true): Promise<number> {
    const id = await insertUserOn(db, `warn${++n}-${engine.name.toLowerCase()}@example.com`);
    if (verified) await db.sql.run("UPDATE users SET email_verified_at = ? WHERE id = ?", [T0 - DAY, id]);
    return id;
  }
  async function give(userId: number, amount: number, expiresAt: number | null): Promise<number> {
    const w = await grant(db.sql, { userId, amount, type: "bonus", key: `warn-grant-${++n}`, description: "x", now: T0 - DAY, expiresAt });
    const g = await db.sql.get<{ id: number }>("SELECT id FROM credit_grants WHERE source_tx_id = ?", [w.transaction.id]);
    return g!.id;
  }
  const warnedAt = async (grantId: number) =>
    (await db.sql.get<{ at: number | null }>("SELECT expiry_warned_at AS at FROM credit_grants WHERE id = ?", [grantId]))!.at;

  it("finds owners due a warning and claims their due grants, soonest first, once", async () => {
    T0 += 30 * DAY;
    const w: WarningWindow = { now: T0, until: T0 + DAY, minCredits: 50 };
    const a = await user();
    const b = await user();
    const unverified = await user(false);
    const a1 = await give(a, 60, T0 + 20 * HOUR);
    const a2 = await give(a, 80, T0 + 2 * HOUR);
    const aSmall = await give(a, 49, T0 + HOUR);
    const aLater = await give(a, 500, T0 + DAY + 1);
    const aNever = await give(a, 500, null);
    await give(b, 50, T0 + DAY); // the window's edge is inside
    await give(unverified, 100, T0 + HOUR);

    expect(await usersDueExpiryWarning(db, w, 100)).toEqual([a, b].sort((x, y) => x - y));
    expect(await usersDueExpiryWarning(db.sql, w, 1)).toEqual([Math.min(a, b)]);

    const claimed = await db.sql.write((tx) => claimExpiryWarnings(tx, a, w));
    expect(claimed).toEqual([
      { id: a2, remaining: 80, expiresAt: T0 + 2 * HOUR },
      { id: a1, remaining: 60, expiresAt: T0 + 20 * HOUR },
    ]);
    expect([await warnedAt(a1), await warnedAt(a2), await warnedAt(aSmall), await warnedAt(aLater), await warnedAt(aNever)]).toEqual([T0, T0, null, null, null]);
    expect(await db.sql.write((tx) => claimExpiryWarnings(tx, a, w))).toEqual([]);
    expect(await usersDueExpiryWarning(db, w, 100)).toEqual([b]);
    // Not reachable (unverified, or deleted): nothing claimed.
    expect(await db.sql.write((tx) => claimExpiryWarnings(tx, unverified, w))).toEqual([]);
    await db.sql.run("UPDATE users SET deleted_at = ? WHERE id = ?", [T0, b]);
    expect(await usersDueExpiryWarning(db, w, 100)).toEqual([]);
    expect(await db.sql.write((tx) => claimExpiryWarnings(tx, b, w))).toEqual([]);
  });

  it("a claim rolled back with its body (the mail failed) leaves the grants to warn next run", async () => {
    T0 += 30 * DAY;
    const w: WarningWindow = { now: T0, until: T0 + DAY, minCredits: 10 };
    const a = await user();
    const g = await give(a, 60, T0 + HOUR);
    await expect(
      db.sql.write(async (tx) => {
        expect(await claimExpiryWarnings(tx, a, w)).toHaveLength(1);
        throw new Error("mail refused");
      }),
    ).rejects.toThrow(/mail refused/);
    expect(await warnedAt(g)).toBeNull();
    expect(await db.sql.write((tx) => claimExpiryWarnings(tx, a, w))).toHaveLength(1);
  });

  it("20 claims of one user's grants at once: one gets them, 19 get nothing", async () => {
    T0 += 30 * DAY;
    const w: WarningWindow = { now: T0, until: T0 + DAY, minCredits: 10 };
    const a = await user();
    await give(a, 60, T0 + HOUR);
    await give(a, 70, T0 + 2 * HOUR);
    const results = await Promise.all(Array.from({ length: 20 }, () => db.sql.write((tx) => claimExpiryWarnings(tx, a, w))));
    expect(results.map((r) => r.length).sort((x, y) => y - x)).toEqual([2, ...Array<number>(19).fill(0)]);
  });

  it("refuses hostile windows and a claim outside a body", async () => {
    const a = await user();
    const bad: Array<[WarningWindow, RegExp]> = [
      [{ now: T0, until: T0, minCredits: 10 }, /bad warning window/],
      [{ now: T0, until: T0 - 1, minCredits: 10 }, /bad warning window/],
      [{ now: Number.NaN, until: T0, minCredits: 10 }, /bad warning window/],
      [{ now: T0, until: Number.POSITIVE_INFINITY, minCredits: 10 }, /bad warning window/],
      [{ now: T0 + 0.5, until: T0 + DAY, minCredits: 10 }, /bad warning window/],
      [{ now: T0, until: T0 + DAY, minCredits: 0 }, /minCredits/],
      [{ now: T0, until: T0 + DAY, minCredits: -5 }, /minCredits/],
      [{ now: T0, until: T0 + DAY, minCredits: 1.5 }, /minCredits/],
      [{ now: T0, until: T0 + DAY, minCredits: "10" as unknown as number }, /minCredits/],
    ];
    for (const [w, error] of bad) {
      await expect(usersDueExpiryWarning(db, w, 10)).rejects.toThrow(error);
      await expect(db.sql.write((tx) => claimExpiryWarnings(tx, a, w))).rejects.toThrow(error);
    }
    const ok: WarningWindow = { now: T0, until: T0 + DAY, minCredits: 10 };
    await expect(usersDueExpiryWarning(db, ok, 0)).rejects.toThrow(/limit/);
    await expect(claimExpiryWarnings(db.sql, a, ok)).rejects.toThrow(/inside the transaction/);
  });
});
