// The ledger's asynchronous reads (decision 036) on SQLite and a real PostgreSQL: the balance in
// one statement (live grants only, holds, the next expiry), history pages, a key's month, a grant's
// rest; on SQLite they agree with the synchronous reads they replace.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeDatabase, openMigratedDatabase } from "../../../db/client.server";
import { closeEngines, ENGINES, insertUserOn, type EngineDb } from "../../../tests/support/engines";
import {
  getBalance,
  grant,
  hold,
  LedgerError,
  listHistory,
  readBalance,
  readSpendableBalance,
  readByKey,
  readGrantLeft,
  readGrantsOfRows,
  readHistory,
  readHoldStatus,
  readKeySpendThisMonth,
  readPurchaseByPaymentId,
  voidHold,
} from "./ledger.server";

const T = Date.UTC(2026, 11, 1, 12);
const DAY = 86_400_000;

afterAll(closeEngines);

describe.each(ENGINES)("the ledger's reads on $name", (engine) => {
  let db: EngineDb;
  beforeAll(async () => {
    db = await engine.open();
  }, 60_000);

  it("a balance counts live grants only, what is on hold, and the credits that expire next", async () => {
    const userId = await insertUserOn(db, `reads-balance-${engine.name.toLowerCase()}@example.com`);
    await grant(db.sql, { userId, amount: 30, type: "bonus", key: "r:b1", description: "never expires", now: T });
    await grant(db.sql, { userId, amount: 20, type: "bonus", key: "r:b2", description: "expires first", expiresAt: T + DAY, now: T });
    await grant(db.sql, { userId, amount: 5, type: "bonus", key: "r:b3", description: "also expires first", expiresAt: T + DAY, now: T });
    await grant(db.sql, { userId, amount: 7, type: "bonus", key: "r:b4", description: "expires later", expiresAt: T + 3 * DAY, now: T });
    const held = await hold(db.sql, { userId, cost: 12, key: "r:h1", description: "held", ttlSeconds: 600, now: T + 1 });
    expect(held.ok).toBe(true);

    const at = await readBalance(db, userId, T + 2);
    expect(at.balance + at.onHold).toBe(62);
    expect(await readSpendableBalance(db, userId, T + 2)).toBe(at.balance);
    expect(at.onHold).toBe(12);
    // The hold drew from the credits expiring first: 13 of the 25 due at T + DAY are left.
    expect(at.nextExpiry).toEqual({ amount: 13, expiresAt: T + DAY });
    // After the first expiry those credits are no longer spendable, before any sweep runs.
    const later = await readBalance(db, userId, T + DAY);
    expect(later.balance).toBe(at.balance - 13);
    expect(await readSpendableBalance(db, userId, T + DAY)).toBe(later.balance);
    expect(later.nextExpiry).toEqual({ amount: 7, expiresAt: T + 3 * DAY });
    const none = await readBalance(db, userId, T + 4 * DAY);
    expect(none.nextExpiry).toBeNull();
  });

  it("a user who does not exist is the ledger's user_not_found, and bad arguments are refused", async () => {
    await expect(readBalance(db, 987_654)).rejects.toMatchObject({ code: "user_not_found" });
    await expect(readSpendableBalance(db, 987_654)).rejects.toMatchObject({ code: "user_not_found" });
    for (const bad of [0, -1, 1.5, Number.NaN, 2 ** 60]) {
      await expect(readBalance(db, bad)).rejects.toBeInstanceOf(LedgerError);
      await expect(readSpendableBalance(db, bad)).rejects.toBeInstanceOf(LedgerError);
    }
    await expect(readHoldStatus(db, -3)).rejects.toBeInstanceOf(LedgerError);
    await expect(readByKey(db, "")).rejects.toBeInstanceOf(LedgerError);
  });

  it("history pages newest first by keyset, by type, and names the grants its rows opened", async () => {
    const userId = await insertUserOn(db, `reads-history-${engine.name.toLowerCase()}@example.com`);
    const ids: number[] = [];
    for (let i = 0; i < 5; i++) {
      const w = await grant(db.sql, { userId, amount: 1 + i, type: i % 2 ? "bonus" : "topup", key: `r:hist:${engine.name}:${i}`, description: `g${i}`, expiresAt: i === 0 ? T + DAY : null, now: T + i });
      ids.push(w.transaction.id);
    }
    const first = await readHistory(db, { userId, limit: 2 });
    expect(first.items.map((t) => t.id)).toEqual([ids[4], ids[3]]);
    const second = await readHistory(db, { userId, limit: 2, cursor: first.nextCursor });
    expect(second.items.map((t) => t.id)).toEqual([ids[2], ids[1]]);
    const last = await readHistory(db, { userId, limit: 2, cursor: second.nextCursor });
    expect(last.items.map((t) => t.id)).toEqual([ids[0]]);
    expect(last.nextCursor).toBeNull();
    const bonuses = await readHistory(db, { userId, type: "bonus", limit: 10 });
    expect(bonuses.items.map((t) => t.id)).toEqual([ids[3], ids[1]]);
    await expect(readHistory(db, { userId, limit: 2, cursor: 1.5 })).rejects.toBeInstanceOf(LedgerError);

    const grants = await readGrantsOfRows(db, ids);
    expect(grants.get(ids[0]!)).toEqual({ expiresAt: T + DAY, closed: false });
    expect(grants.get(ids[4]!)).toEqual({ expiresAt: null, closed: false });
    expect((await readGrantsOfRows(db, [])).size).toBe(0);
    expect(await readGrantLeft(db, ids[0]!, T)).toBe(1);
    expect(await readGrantLeft(db, ids[0]!, T + DAY)).toBe(0);
  });

  it("a hold's state, a row by key and by payment, and what a key spent this month", async () => {
    const userId = await insertUserOn(db, `reads-key-${engine.name.toLowerCase()}@example.com`, "user", 100);
    const key = await db.sql.write((tx) =>
      tx.get<{ id: number }>("INSERT INTO api_keys (user_id, name, prefix, key_hash) VALUES (?, 'k', 'p', ?) RETURNING id", [userId, `hash-${engine.name}`]),
    );
    const apiKey = { id: key!.id, monthlyLimit: null };
    const a = await hold(db.sql, { userId, cost: 10, key: `r:k1:${engine.name}`, description: "a", ttlSeconds: 600, apiKey, now: T });
    const b = await hold(db.sql, { userId, cost: 4, key: `r:k2:${engine.name}`, description: "b", ttlSeconds: 600, apiKey, now: T });
    if (!a.ok || !b.ok) throw new Error("holds refused");
    await voidHold(db.sql, b.transaction.id, "failed", T + 1);
    expect(await readHoldStatus(db, a.transaction.id)).toBe("pending");
    expect(await readHoldStatus(db, b.transaction.id)).toBe("voided");
    expect(await readHoldStatus(db, 999_999)).toBeUndefined();
    expect(await readKeySpendThisMonth(db, apiKey.id, T)).toBe(10);
    // A new UTC month starts from nothing.
    expect(await readKeySpendThisMonth(db, apiKey.id, Date.UTC(2027, 0, 1))).toBe(0);
    expect((await readByKey(db, `r:k1:${engine.name}`))?.id).toBe(a.transaction.id);
    expect(await readByKey(db, "r:missing")).toBeUndefined();

    const paid = await grant(db.sql, { userId, amount: 50, type: "purchase", key: `r:p:${engine.name}`, description: "pack", stripePaymentId: `pi_${engine.name}`, now: T });
    expect((await readPurchaseByPaymentId(db, `pi_${engine.name}`))?.id).toBe(paid.transaction.id);
    expect(await readPurchaseByPaymentId(db, "pi_none")).toBeUndefined();
  });

  it("inside a write body the reads see the body's own uncommitted rows", async () => {
    const userId = await insertUserOn(db, `reads-tx-${engine.name.toLowerCase()}@example.com`);
    const seen = await db.sql.write(async (tx) => {
      await grant(tx, { userId, amount: 9, type: "bonus", key: `r:tx:${engine.name}`, description: "in body", now: T });
      return (await readBalance(tx, userId, T)).balance;
    });
    expect(seen).toBe(9);
  });
});

describe("on SQLite the asynchronous reads agree with the synchronous ones", () => {
  it("balance and history of the same file", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "reads-agree-"));
    const db = openMigratedDatabase(path.join(dir, "app.sqlite"));
    try {
      const userId = await insertUserOn(db, "agree@example.com");
      await grant(db, { userId, amount: 40, type: "bonus", key: "a:1", description: "x", expiresAt: T + DAY, now: T });
      await grant(db, { userId, amount: 3, type: "topup", key: "a:2", description: "y", now: T });
      await hold(db, { userId, cost: 6, key: "a:3", description: "z", ttlSeconds: 600, now: T });
      expect(await readBalance(db, userId, T)).toEqual(getBalance(db, userId, T));
      expect(await readHistory(db, { userId, limit: 2 })).toEqual(listHistory(db, { userId, limit: 2 }));
    } finally {
      closeDatabase(db);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
