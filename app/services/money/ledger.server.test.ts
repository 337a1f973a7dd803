import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { closeDatabase, openDatabase, openMigratedDatabase, type AppDb } from "../../../db/client.server";
import {
  LedgerError,
  adjust,
  clawback,
  findPurchaseByPaymentId,
  getBalance,
  grant,
  hold,
  listHistory,
  postHold,
  extendHold,
  MAX_HOLD_LIFETIME_MS,
  sweepExpiredHolds,
  voidHold,
  voidRecordOf,
  type Tx,
} from "./ledger.server";
import { startHoldSweeper } from "./hold-sweeper.server";
import { verifyLedger } from "./ledger-verify.server";
import { spendNow, canSpend } from "../../../tests/support/ledger";

let dir: string;
let db: AppDb;
let emails = 0;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "credits-test-"));
  db = openMigratedDatabase(path.join(dir, "app.sqlite"));
});

afterAll(async () => {
  closeDatabase(db);
  fs.rmSync(dir, { recursive: true, force: true });
});

function createUser(): number {
  const info = db.sqlite.prepare("insert into users(email, password_hash) values (?, 'x')").run(`u${++emails}@example.com`);
  return Number(info.lastInsertRowid);
}

/** A user with `credits` already granted. */
async function userWith(credits: number): Promise<number> {
  const userId = createUser();
  if (credits > 0) await grant(db, { userId, amount: credits, type: "bonus", key: `seed:${userId}`, description: "seed" });
  return userId;
}

function creditsOf(userId: number): number {
  return (db.sqlite.prepare("select credits from users where id = ?").get(userId) as { credits: number }).credits;
}

function rowCount(): number {
  return (db.sqlite.prepare("select count(*) as n from transactions").get() as { n: number }).n;
}

async function expectLedgerError(fn: () => unknown, code: LedgerError["code"]): Promise<void> {
  try {
    await fn();
  } catch (error) {
    expect(error).toBeInstanceOf(LedgerError);
    expect((error as LedgerError).code).toBe(code);
    return;
  }
  throw new Error(`expected LedgerError ${code}, nothing was thrown`);
}

function expectLedgerOk() {
  const report = verifyLedger(db, { sweepGraceMs: Number.MAX_SAFE_INTEGER });
  expect(report.violations).toEqual([]);
}

function ok<T extends { ok: true } | { ok: false }>(result: T): Extract<T, { ok: true }> {
  if (!result.ok) throw new Error(`expected ok, got ${JSON.stringify(result)}`);
  return result as Extract<T, { ok: true }>;
}

describe("grant", () => {
  it("adds credits, writes one posted row with balance_after, and replays by key", async () => {
    const userId = createUser();
    const first = await grant(db, {
      userId,
      amount: 100,
      type: "purchase",
      key: "cs_test_1",
      description: "100 credits",
      stripePaymentId: "pi_1",
      meta: { pack: "starter", cents: 1000 },
    });
    expect(first.replayed).toBe(false);
    expect(first.transaction).toMatchObject({
      userId,
      amount: 100,
      type: "purchase",
      status: "posted",
      idempotencyKey: "cs_test_1",
      stripePaymentId: "pi_1",
      balanceAfter: 100,
      expiresAt: null,
    });
    expect(JSON.parse(first.transaction.meta!)).toEqual({ pack: "starter", cents: 1000 });
    expect(creditsOf(userId)).toBe(100);

    const rows = rowCount();
    const again = await grant(db, { userId, amount: 100, type: "purchase", key: "cs_test_1", description: "100 credits" });
    expect(again).toEqual({ transaction: first.transaction, replayed: true });
    expect(creditsOf(userId)).toBe(100);
    expect(rowCount()).toBe(rows);
    expectLedgerOk();
  });

  it("refuses a reused key that names a different write", async () => {
    const userId = await userWith(10);
    const other = createUser();
    await grant(db, { userId, amount: 50, type: "purchase", key: "k-conflict", description: "x" });
    await expectLedgerError(async () => await grant(db, { userId, amount: 51, type: "purchase", key: "k-conflict", description: "x" }), "key_conflict");
    await expectLedgerError(async () => await grant(db, { userId, amount: 50, type: "bonus", key: "k-conflict", description: "x" }), "key_conflict");
    await expectLedgerError(async () => await grant(db, { userId: other, amount: 50, type: "purchase", key: "k-conflict", description: "x" }), "key_conflict");
    await expectLedgerError(async () => await hold(db, { userId, cost: 5, key: "k-conflict", description: "x", ttlSeconds: 60 }), "key_conflict");
    expect(creditsOf(userId)).toBe(60);
    expect(creditsOf(other)).toBe(0);
  });

  it("rejects invalid amounts, unknown users and bad requests", async () => {
    const userId = createUser();
    for (const amount of [0, -1, 1.5, Number.NaN, Infinity, 1e9 + 1, 2 ** 53, "5" as unknown as number]) {
      await expectLedgerError(async () => await grant(db, { userId, amount, type: "bonus", key: `bad-${String(amount)}`, description: "x" }), "invalid_amount");
    }
    await expectLedgerError(async () => await grant(db, { userId: 999_999, amount: 5, type: "bonus", key: "nobody", description: "x" }), "user_not_found");
    await expectLedgerError(async () => await grant(db, { userId, amount: 5, type: "bonus", key: "", description: "x" }), "invalid_request");
    await expectLedgerError(
      async () => await grant(db, { userId, amount: 5, type: "usage" as "bonus", key: "wrong-type", description: "x" }),
      "invalid_request",
    );
    expect((await grant(db, { userId, amount: 1e9, type: "bonus", key: "max", description: "max" })).transaction.balanceAfter).toBe(1e9);
    expect(listHistory(db, { userId, limit: 10 }).items).toHaveLength(1);
  });
});

describe("hold, postHold, voidHold", () => {
  it("a hold takes the cost now; posting makes it final", async () => {
    const userId = await userWith(100);
    const now = 1_700_000_000_000;
    const held = ok(await hold(db, { userId, cost: 50, key: "job-1", description: "Video 720p", ttlSeconds: 600, meta: { jobId: "job-1" }, now }));
    expect(held.replayed).toBe(false);
    expect(held.transaction).toMatchObject({
      type: "usage",
      status: "pending",
      amount: -50,
      balanceAfter: 50,
      expiresAt: now + 600_000,
      createdAt: now,
      settledAt: null,
    });
    expect(getBalance(db, userId)).toEqual({ balance: 50, onHold: 50, nextExpiry: null });

    const posted = await postHold(db, held.transaction.id, now + 5);
    expect(posted.replayed).toBe(false);
    expect(posted.transaction).toMatchObject({ id: held.transaction.id, status: "posted", settledAt: now + 5, balanceAfter: 50 });
    expect(getBalance(db, userId)).toEqual({ balance: 50, onHold: 0, nextExpiry: null });

    const again = await postHold(db, held.transaction.id, now + 10);
    expect(again).toEqual({ transaction: posted.transaction, replayed: true });
    await expectLedgerError(async () => await voidHold(db, held.transaction.id, "too late"), "hold_posted");
    expect(creditsOf(userId)).toBe(50);
    expectLedgerOk();
  });

  it("voiding gives the credits back, keeps the row, and records why", async () => {
    const userId = await userWith(100);
    const held = ok(await hold(db, { userId, cost: 5, key: "img-1", description: "Image", ttlSeconds: 60, meta: { jobId: "img-1" } }));
    await grant(db, { userId, amount: 10, type: "bonus", key: `between-${userId}`, description: "between" });
    const voided = await voidHold(db, held.transaction.id, "generation_failed");
    expect(voided.replayed).toBe(false);
    expect(voided.transaction).toMatchObject({ id: held.transaction.id, status: "voided", amount: -5, balanceAfter: 95 });
    expect(voided.transaction.settledAt).not.toBeNull();
    const meta = JSON.parse(voided.transaction.meta!);
    expect(meta).toMatchObject({ jobId: "img-1", voidReason: "generation_failed", voidBalanceAfter: 110 });
    expect(voidRecordOf(voided.transaction)?.voidAfterId).toBeGreaterThan(held.transaction.id);
    expect(getBalance(db, userId)).toEqual({ balance: 110, onHold: 0, nextExpiry: null });

    const again = await voidHold(db, held.transaction.id, "another reason");
    expect(again).toEqual({ transaction: voided.transaction, replayed: true });
    await expectLedgerError(async () => await postHold(db, held.transaction.id), "hold_voided");
    expect(creditsOf(userId)).toBe(110);
    expect(listHistory(db, { userId, limit: 10 }).items.map((t) => t.status)).toEqual(["posted", "voided", "posted"]);
    expectLedgerOk();
  });

  it("refuses to overspend and says how much is missing", async () => {
    const userId = await userWith(40);
    const rows = rowCount();
    expect(await hold(db, { userId, cost: 50, key: "too-big", description: "Video", ttlSeconds: 60 })).toEqual({
      ok: false,
      reason: "insufficient_credits",
      balance: 40,
      needed: 50,
    });
    expect(rowCount()).toBe(rows);
    // Holds count against the balance at once: two holds of 30 cannot both fit in 40.
    ok(await hold(db, { userId, cost: 30, key: "h-a", description: "a", ttlSeconds: 60 }));
    expect(await hold(db, { userId, cost: 30, key: "h-b", description: "b", ttlSeconds: 60 })).toMatchObject({ ok: false, balance: 10, needed: 30 });
    // The refused key was not used up: once there is money, the same key goes through.
    await grant(db, { userId, amount: 100, type: "purchase", key: `refill-${userId}`, description: "refill" });
    expect(ok(await hold(db, { userId, cost: 30, key: "h-b", description: "b", ttlSeconds: 60 })).replayed).toBe(false);
    expect(getBalance(db, userId)).toEqual({ balance: 80, onHold: 60, nextExpiry: null });
  });

  it("the same hold key returns the existing hold whatever its status", async () => {
    const userId = await userWith(100);
    const args = { userId, cost: 5, key: "same-job", description: "Image", ttlSeconds: 60 };
    const first = ok(await hold(db, args));
    expect(ok(await hold(db, args))).toEqual({ ok: true, transaction: first.transaction, replayed: true });
    const voided = await voidHold(db, first.transaction.id, "failed");
    expect(ok(await hold(db, args))).toEqual({ ok: true, transaction: voided.transaction, replayed: true });
    expect(creditsOf(userId)).toBe(100);
    await expectLedgerError(async () => await hold(db, { ...args, cost: 6 }), "key_conflict");
    // A replayed key is answered even when the balance could not pay for it any more.
    const poor = await userWith(5);
    const h = ok(await hold(db, { userId: poor, cost: 5, key: "poor-job", description: "x", ttlSeconds: 60 }));
    expect(ok(await hold(db, { userId: poor, cost: 5, key: "poor-job", description: "x", ttlSeconds: 60 })).transaction.id).toBe(h.transaction.id);
  });

  it("refuses unknown holds, bad ids, bad ttls and unknown users", async () => {
    const userId = await userWith(10);
    const g = await grant(db, { userId, amount: 1, type: "bonus", key: `not-a-hold-${userId}`, description: "x" });
    await expectLedgerError(async () => await postHold(db, 987_654), "hold_not_found");
    await expectLedgerError(async () => await voidHold(db, 987_654, "x"), "hold_not_found");
    await expectLedgerError(async () => await postHold(db, g.transaction.id), "hold_not_found");
    await expectLedgerError(async () => await voidHold(db, g.transaction.id, "x"), "hold_not_found");
    await expectLedgerError(async () => await postHold(db, -1), "invalid_request");
    await expectLedgerError(async () => await voidHold(db, 1, ""), "invalid_request");
    await expectLedgerError(async () => await hold(db, { userId, cost: 0, key: "zero", description: "x", ttlSeconds: 60 }), "invalid_amount");
    await expectLedgerError(async () => await hold(db, { userId, cost: 2.5, key: "frac", description: "x", ttlSeconds: 60 }), "invalid_amount");
    await expectLedgerError(async () => await hold(db, { userId, cost: 1, key: "ttl", description: "x", ttlSeconds: 0 }), "invalid_request");
    await expectLedgerError(async () => await hold(db, { userId: 999_999, cost: 1, key: "ghost", description: "x", ttlSeconds: 60 }), "user_not_found");
    expect(creditsOf(userId)).toBe(11);
  });
});

describe("spending at once (hold, then post)", () => {
  it("holds and posts in one step, refuses overspending, replays by key", async () => {
    const userId = await userWith(12);
    const d = ok(await spendNow(db, userId, 5, "Image", "deduct-1"));
    expect(d.transaction).toMatchObject({ type: "usage", status: "posted", amount: -5, balanceAfter: 7 });
    expect(d.transaction.settledAt).toBe(d.transaction.createdAt);
    expect(ok(await spendNow(db, userId, 5, "Image", "deduct-1")).replayed).toBe(true);
    expect(await spendNow(db, userId, 8, "Image")).toEqual({ ok: false, reason: "insufficient_credits", balance: 7, needed: 8 });
    // Without a key each call is a new write.
    ok(await spendNow(db, userId, 3, "Image"));
    ok(await spendNow(db, userId, 3, "Image"));
    expect(creditsOf(userId)).toBe(1);
    // A deduction is a posted usage row: posting it again is a replay, voiding it is refused.
    expect((await postHold(db, d.transaction.id)).replayed).toBe(true);
    await expectLedgerError(async () => await voidHold(db, d.transaction.id, "x"), "hold_posted");
    await expectLedgerError(async () => await spendNow(db, 999_999, 1, "x"), "user_not_found");
    await expectLedgerError(async () => await spendNow(db, userId, -3, "x"), "invalid_amount");
    expectLedgerOk();
  });
});

describe("adjust", () => {
  it("records who and why; a negative adjustment never goes below zero", async () => {
    const adminId = createUser();
    const userId = await userWith(20);
    const up = ok(await adjust(db, { userId, amount: 15, adminId, reason: "support ticket #12", key: "form-1" }));
    expect(up.transaction).toMatchObject({ type: "adjustment", amount: 15, adminId, reason: "support ticket #12", balanceAfter: 35 });
    expect(ok(await adjust(db, { userId, amount: 15, adminId, reason: "support ticket #12", key: "form-1" })).replayed).toBe(true);

    const down = ok(await adjust(db, { userId, amount: -35, adminId, reason: "abuse", key: "form-2" }));
    expect(down.transaction).toMatchObject({ type: "adjustment", amount: -35, balanceAfter: 0 });
    expect(await adjust(db, { userId, amount: -1, adminId, reason: "again", key: "form-3" })).toEqual({
      ok: false,
      reason: "insufficient_credits",
      balance: 0,
      needed: 1,
    });

    const bonus = ok(await adjust(db, { userId, amount: 7, adminId, reason: "promo", key: "form-4", type: "bonus" }));
    expect(bonus.transaction).toMatchObject({ type: "bonus", amount: 7, adminId, reason: "promo" });
    expect(creditsOf(userId)).toBe(7);
    expectLedgerOk();
  });

  it("refuses a missing reason, zero, a negative bonus, unknown users and admins, key conflicts", async () => {
    const adminId = createUser();
    const userId = await userWith(20);
    await expectLedgerError(async () => await adjust(db, { userId, amount: 5, adminId, reason: "  ", key: "a-1" }), "invalid_request");
    await expectLedgerError(async () => await adjust(db, { userId, amount: 0, adminId, reason: "r", key: "a-2" }), "invalid_amount");
    await expectLedgerError(async () => await adjust(db, { userId, amount: 1.5, adminId, reason: "r", key: "a-3" }), "invalid_amount");
    await expectLedgerError(async () => await adjust(db, { userId, amount: -5, adminId, reason: "r", key: "a-4", type: "bonus" }), "invalid_amount");
    await expectLedgerError(async () => await adjust(db, { userId: 999_999, amount: 5, adminId, reason: "r", key: "a-5" }), "user_not_found");
    await expectLedgerError(async () => await adjust(db, { userId: 999_999, amount: -5, adminId, reason: "r", key: "a-6" }), "user_not_found");
    await expectLedgerError(async () => await adjust(db, { userId, amount: 5, adminId: 999_999, reason: "r", key: "a-7" }), "user_not_found");
    await expectLedgerError(async () => await adjust(db, { userId, amount: -5, adminId: 999_999, reason: "r", key: "a-8" }), "user_not_found");
    ok(await adjust(db, { userId, amount: 5, adminId, reason: "r", key: "a-9" }));
    await expectLedgerError(async () => await adjust(db, { userId, amount: -5, adminId, reason: "r", key: "a-9" }), "key_conflict");
    await expectLedgerError(async () => await adjust(db, { userId, amount: 5, adminId, reason: "r", key: "a-9", type: "bonus" }), "key_conflict");
    expect(creditsOf(userId)).toBe(25);
  });
});

describe("clawback", () => {
  it("may take the balance below zero; spending is refused until it is positive again", async () => {
    const userId = createUser();
    await grant(db, { userId, amount: 100, type: "purchase", key: "cs_claw", description: "pack", stripePaymentId: "pi_claw" });
    ok(await spendNow(db, userId, 70, "Video"));
    const c = await clawback(db, { userId, amount: 100, key: "re_1", description: "Refund of pack", stripePaymentId: "pi_claw" });
    expect(c.transaction).toMatchObject({ type: "refund", amount: -100, balanceAfter: -70, status: "posted", stripePaymentId: "pi_claw" });
    expect((await clawback(db, { userId, amount: 100, key: "re_1", description: "Refund of pack" })).replayed).toBe(true);
    await expectLedgerError(async () => await clawback(db, { userId, amount: 99, key: "re_1", description: "x" }), "key_conflict");
    expect(creditsOf(userId)).toBe(-70);

    expect(canSpend(db, userId, 1)).toBe(false);
    expect(await hold(db, { userId, cost: 1, key: "claw-h1", description: "x", ttlSeconds: 60 })).toMatchObject({ ok: false, balance: -70 });
    expect(await spendNow(db, userId, 1, "x")).toMatchObject({ ok: false, balance: -70 });
    const adminId = createUser();
    expect(await adjust(db, { userId, amount: -1, adminId, reason: "r", key: "claw-adj" })).toMatchObject({ ok: false, balance: -70 });

    await grant(db, { userId, amount: 70, type: "bonus", key: "claw-g1", description: "x" });
    expect(canSpend(db, userId, 1)).toBe(false);
    await grant(db, { userId, amount: 5, type: "bonus", key: "claw-g2", description: "x" });
    expect(canSpend(db, userId, 5)).toBe(true);
    expect(ok(await spendNow(db, userId, 5, "Image")).transaction.balanceAfter).toBe(0);
    await expectLedgerError(async () => await clawback(db, { userId, amount: 0, key: "re_0", description: "x" }), "invalid_amount");
    await expectLedgerError(async () => await clawback(db, { userId: 999_999, amount: 1, key: "re_x", description: "x" }), "user_not_found");
    expectLedgerOk();
  });
});

describe("sweepExpiredHolds and the sweeper", () => {
  it("voids only pending holds past their timeout", async () => {
    const userId = await userWith(100);
    const t0 = 2_000_000_000_000; // far in the future
    await sweepExpiredHolds(db, t0 - 1); // holds left by earlier tests
    const a = ok(await hold(db, { userId, cost: 10, key: "sw-a", description: "a", ttlSeconds: 10, now: t0 }));
    const b = ok(await hold(db, { userId, cost: 10, key: "sw-b", description: "b", ttlSeconds: 20, now: t0 }));
    const c = ok(await hold(db, { userId, cost: 10, key: "sw-c", description: "c", ttlSeconds: 10, now: t0 }));
    await postHold(db, c.transaction.id, t0 + 1);
    expect(await sweepExpiredHolds(db, t0 + 9_999)).toBe(0);
    expect(await sweepExpiredHolds(db, t0 + 10_000)).toBe(1);
    const rows = listHistory(db, { userId, type: "usage", limit: 10 }).items;
    const byId = new Map(rows.map((r) => [r.id, r]));
    expect(byId.get(a.transaction.id)?.status).toBe("voided");
    expect(voidRecordOf(byId.get(a.transaction.id)!)?.voidReason).toBe("expired");
    expect(byId.get(b.transaction.id)?.status).toBe("pending");
    expect(byId.get(c.transaction.id)?.status).toBe("posted");
    expect(getBalance(db, userId)).toEqual({ balance: 80, onHold: 10, nextExpiry: null });
    expect(await sweepExpiredHolds(db, t0 + 10_000)).toBe(0);
    expect(await sweepExpiredHolds(db, t0 + 20_000)).toBe(1);
    expect(getBalance(db, userId)).toEqual({ balance: 90, onHold: 0, nextExpiry: null });
    await expectLedgerError(async () => await postHold(db, b.transaction.id), "hold_voided");
    expectLedgerOk();
  });

  it("sweeps in batches", async () => {
    const userId = await userWith(1000);
    const t0 = 2_100_000_000_000;
    await sweepExpiredHolds(db, t0 - 1);
    for (let i = 0; i < 25; i++) ok(await hold(db, { userId, cost: 2, key: `batch-${i}`, description: "x", ttlSeconds: 1, now: t0 }));
    expect(await sweepExpiredHolds(db, t0 + 1000, { batchSize: 10 })).toBe(25);
    expect(getBalance(db, userId)).toEqual({ balance: 1000, onHold: 0, nextExpiry: null });
    expectLedgerOk();
  });

  it("runs onVoided for each hold it voids, inside the same transaction", async () => {
    const userId = await userWith(100);
    const t0 = 2_150_000_000_000;
    await sweepExpiredHolds(db, t0 - 1);
    const a = ok(await hold(db, { userId, cost: 10, key: "hook-a", description: "a", ttlSeconds: 1, now: t0 }));
    ok(await hold(db, { userId, cost: 10, key: "hook-b", description: "b", ttlSeconds: 60, now: t0 }));
    const seen: Array<{ id: number; status: string; inTransaction: boolean }> = [];
    expect(
      await sweepExpiredHolds(db, t0 + 1000, { onVoided: (h) => void seen.push({ id: h.id, status: h.status, inTransaction: db.sqlite.inTransaction }) }),
    ).toBe(1);
    expect(seen).toEqual([{ id: a.transaction.id, status: "voided", inTransaction: true }]);
    expectLedgerOk();
  });

  it("a throwing onVoided rolls the void back with it: hold and hook never disagree", async () => {
    const userId = await userWith(100);
    const t0 = 2_160_000_000_000;
    await sweepExpiredHolds(db, t0 - 1);
    const a = ok(await hold(db, { userId, cost: 10, key: "hook-throw", description: "a", ttlSeconds: 1, now: t0 }));
    await expect(
      sweepExpiredHolds(db, t0 + 1000, {
        onVoided: () => {
          throw new Error("the job could not be failed");
        },
      }),
    ).rejects.toThrow(/could not be failed/);
    expect(listHistory(db, { userId, type: "usage", limit: 1 }).items[0]).toMatchObject({ id: a.transaction.id, status: "pending" });
    expect(getBalance(db, userId)).toEqual({ balance: 90, onHold: 10, nextExpiry: null });
    expect(await sweepExpiredHolds(db, t0 + 1000)).toBe(1);
    expectLedgerOk();
  });

  it("startHoldSweeper sweeps at start and on its interval, and stops", async () => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval", "Date"] });
    try {
      const userId = await userWith(100);
      vi.setSystemTime(3_000_000_000_000);
      ok(await hold(db, { userId, cost: 10, key: "timer-1", description: "x", ttlSeconds: 1, now: Date.now() - 5_000 }));
      const info = vi.fn();
      const sweeper = startHoldSweeper(db, { intervalMs: 1000, log: { info, error: vi.fn() } });
      await sweeper.idle();
      expect(creditsOf(userId)).toBe(100); // swept at start
      expect(info).toHaveBeenCalledWith({ voided: 1 }, expect.any(String));

      ok(await hold(db, { userId, cost: 10, key: "timer-2", description: "x", ttlSeconds: 2 }));
      vi.advanceTimersByTime(1000);
      await sweeper.idle();
      expect(creditsOf(userId)).toBe(90); // not due yet
      vi.advanceTimersByTime(1000);
      await sweeper.idle();
      expect(creditsOf(userId)).toBe(100);

      ok(await hold(db, { userId, cost: 10, key: "timer-3", description: "x", ttlSeconds: 1 }));
      sweeper.stop();
      vi.advanceTimersByTime(10_000);
      await sweeper.idle();
      expect(creditsOf(userId)).toBe(90);
      expect(await sweeper.sweepNow()).toBe(0); // stopped
      expect(await sweepExpiredHolds(db)).toBe(1);
    } finally {
      vi.useRealTimers();
    }
  });

  it("logs a failed sweep instead of throwing from the timer", async () => {
    const unmigrated = openDatabase(path.join(dir, "unmigrated.sqlite")); // no transactions table
    const error = vi.fn();
    const sweeper = startHoldSweeper(unmigrated, { intervalMs: 1000, log: { info: vi.fn(), error } });
    await vi.waitFor(() => expect(error).toHaveBeenCalledTimes(1));
    await expect(sweeper.sweepNow()).rejects.toThrow(/no such table/);
    sweeper.stop();
    closeDatabase(unmigrated);
    expect(await sweeper.sweepNow()).toBe(0);
  });
});

describe("reads", () => {
  it("getBalance, and whether it covers a cost", async () => {
    const userId = await userWith(30);
    ok(await hold(db, { userId, cost: 5, key: `gb-${userId}`, description: "x", ttlSeconds: 60 }));
    expect(getBalance(db, userId)).toEqual({ balance: 25, onHold: 5, nextExpiry: null });
    expect(canSpend(db, userId, 25)).toBe(true);
    expect(canSpend(db, userId, 26)).toBe(false);
    await expectLedgerError(() => getBalance(db, 999_999), "user_not_found");
    await expectLedgerError(() => canSpend(db, 999_999, 1), "user_not_found");
  });

  it("listHistory pages newest first by keyset and filters by type", async () => {
    const userId = createUser();
    const written: Tx[] = [];
    for (let i = 0; i < 7; i++) {
      written.push((await grant(db, { userId, amount: 10, type: "bonus", key: `hist-g${i}-${userId}`, description: `g${i}` })).transaction);
      written.push(ok(await spendNow(db, userId, 1, `d${i}`)).transaction);
    }
    const seen: number[] = [];
    let cursor: number | null = null;
    let pages = 0;
    do {
      const page: { items: Tx[]; nextCursor: number | null } = listHistory(db, { userId, cursor, limit: 4 });
      seen.push(...page.items.map((t) => t.id));
      cursor = page.nextCursor;
      pages++;
    } while (cursor !== null);
    expect(pages).toBe(4);
    expect(seen).toEqual(written.map((t) => t.id).reverse());

    const usage = listHistory(db, { userId, type: "usage", limit: 100 });
    expect(usage.items).toHaveLength(7);
    expect(usage.items.every((t) => t.type === "usage")).toBe(true);
    expect(usage.nextCursor).toBeNull();
    // Exactly one full page: no further page is announced.
    expect(listHistory(db, { userId, type: "bonus", limit: 7 }).nextCursor).toBeNull();
    expect(listHistory(db, { userId: 999_999, limit: 5 })).toEqual({ items: [], nextCursor: null });
    await expectLedgerError(() => listHistory(db, { userId, cursor: Number.NaN, limit: 5 }), "invalid_request");
  });

  it("findPurchaseByPaymentId finds the purchase, not other rows", async () => {
    const userId = createUser();
    const p = await grant(db, { userId, amount: 100, type: "purchase", key: "cs_find", description: "pack", stripePaymentId: "pi_find" });
    await clawback(db, { userId, amount: 100, key: "re_find", description: "refund", stripePaymentId: "pi_find" });
    expect(findPurchaseByPaymentId(db, "pi_find")).toEqual(p.transaction);
    expect(findPurchaseByPaymentId(db, "pi_missing")).toBeUndefined();
  });
});

describe("extendHold", () => {
  const usageRow = (id: number) => listHistory(db, { userId: creditsOwner(id), type: "usage", limit: 100 }).items.find((r) => r.id === id)!;
  const creditsOwner = (id: number) => (db.sqlite.prepare("select user_id as u from transactions where id = ?").get(id) as { u: number }).u;

  it("moves a pending hold's timeout forward, never backward, and the sweeper honours it", async () => {
    const userId = await userWith(50);
    const t0 = 2_200_000_000_000;
    await sweepExpiredHolds(db, t0 - 1);
    const h = ok(await hold(db, { userId, cost: 10, key: "ext-1", description: "x", ttlSeconds: 10, now: t0 }));
    expect(h.transaction.expiresAt).toBe(t0 + 10_000);

    expect(await extendHold(db, h.transaction.id, t0 + 60_000)).toMatchObject({ extended: true, transaction: { expiresAt: t0 + 60_000, status: "pending" } });
    expect(await extendHold(db, h.transaction.id, t0 + 30_000)).toMatchObject({ extended: false, transaction: { expiresAt: t0 + 60_000 } });
    expect((await extendHold(db, h.transaction.id, t0 + 60_000)).extended).toBe(false);
    expect(usageRow(h.transaction.id).expiresAt).toBe(t0 + 60_000);

    expect(await sweepExpiredHolds(db, t0 + 59_999)).toBe(0);
    expect(getBalance(db, userId)).toEqual({ balance: 40, onHold: 10, nextExpiry: null });
    expect(await sweepExpiredHolds(db, t0 + 60_000)).toBe(1);
    expect(getBalance(db, userId)).toEqual({ balance: 50, onHold: 0, nextExpiry: null });
    expectLedgerOk();
  });

  it("changes nothing on a posted or voided hold, or a row that is not a hold", async () => {
    const userId = await userWith(50);
    const t0 = 2_210_000_000_000;
    const posted = ok(await hold(db, { userId, cost: 5, key: "ext-posted", description: "x", ttlSeconds: 10, now: t0 }));
    await postHold(db, posted.transaction.id, t0 + 1);
    const voided = ok(await hold(db, { userId, cost: 5, key: "ext-voided", description: "x", ttlSeconds: 10, now: t0 }));
    await voidHold(db, voided.transaction.id, "failed", t0 + 1);
    for (const id of [posted.transaction.id, voided.transaction.id]) {
      const before = usageRow(id);
      expect(await extendHold(db, id, t0 + 3_600_000)).toEqual({ extended: false, transaction: before });
      expect(usageRow(id)).toEqual(before);
    }
    const grantRow = listHistory(db, { userId, type: "bonus", limit: 1 }).items[0];
    await expectLedgerError(async () => await extendHold(db, grantRow.id, t0 + 3_600_000), "hold_not_found");
    await expectLedgerError(async () => await extendHold(db, 987_654_321, t0 + 3_600_000), "hold_not_found");
    await expectLedgerError(async () => await extendHold(db, posted.transaction.id, Number.NaN), "invalid_request");
    expect(getBalance(db, userId)).toEqual({ balance: 45, onHold: 0, nextExpiry: null });
    expectLedgerOk();
  });

  it("never moves a timeout past the cap counted from when the hold was placed", async () => {
    const userId = await userWith(50);
    const t0 = 2_220_000_000_000;
    const h = ok(await hold(db, { userId, cost: 10, key: "ext-cap", description: "x", ttlSeconds: 10, now: t0 }));
    expect(await extendHold(db, h.transaction.id, t0 + 10 * MAX_HOLD_LIFETIME_MS)).toMatchObject({
      extended: true,
      transaction: { expiresAt: t0 + MAX_HOLD_LIFETIME_MS },
    });
    expect((await extendHold(db, h.transaction.id, t0 + 10 * MAX_HOLD_LIFETIME_MS)).extended).toBe(false);
    expect(usageRow(h.transaction.id).expiresAt).toBe(t0 + MAX_HOLD_LIFETIME_MS);
    await voidHold(db, h.transaction.id, "done", t0 + 1);
    expect(verifyLedger(db, { sweepGraceMs: 0, now: t0 + 2, integrity: true }).violations).toEqual([]);
  });
});

describe("verifyLedger", () => {
  function fresh(): AppDb {
    return openMigratedDatabase(path.join(dir, `verify-${Math.random().toString(36).slice(2)}.sqlite`));
  }

  it("finds a balance changed behind the ledger's back", async () => {
    const v = fresh();
    const userId = Number(v.sqlite.prepare("insert into users(email, password_hash) values ('v@x.io', 'x')").run().lastInsertRowid);
    await grant(v, { userId, amount: 10, type: "bonus", key: "v1", description: "x" });
    expect(verifyLedger(v, { sweepGraceMs: 0 }).violations).toEqual([]);
    v.sqlite.prepare("update users set credits = credits + 5 where id = ?").run(userId);
    const kinds = verifyLedger(v, { sweepGraceMs: 0 }).violations.map((x) => x.kind);
    expect(kinds).toContain("balance_mismatch");
    closeDatabase(v);
  });

  it("finds stale holds, bad balance_after, bad amounts, negative spending", async () => {
    const v = fresh();
    const userId = Number(v.sqlite.prepare("insert into users(email, password_hash) values ('w@x.io', 'x')").run().lastInsertRowid);
    await grant(v, { userId, amount: 100, type: "bonus", key: "w1", description: "x" });
    const now = Date.now();
    const h = ok(await hold(v, { userId, cost: 10, key: "w2", description: "x", ttlSeconds: 1, now: now - 10_000 }));
    let report = verifyLedger(v, { sweepGraceMs: 5_000, now });
    expect(report.violations.map((x) => x.kind)).toEqual(["stale_hold"]);
    expect(report.pendingHolds).toBe(1);
    expect(verifyLedger(v, { sweepGraceMs: 60_000, now }).violations).toEqual([]);
    await voidHold(v, h.transaction.id, "failed");
    expect(verifyLedger(v, { sweepGraceMs: 0, integrity: true }).violations).toEqual([]);

    v.sqlite.prepare("update transactions set balance_after = 99 where idempotency_key = 'w1'").run();
    report = verifyLedger(v, { sweepGraceMs: 0 });
    expect(report.violations.map((x) => x.kind)).toEqual(["bad_balance_after"]);
    v.sqlite.prepare("update transactions set balance_after = 100 where idempotency_key = 'w1'").run();

    // Rows only a bug (or a hand edit) could write.
    const insert = v.sqlite.prepare(
      `insert into transactions (user_id, amount, type, status, idempotency_key, description, balance_after)
       values (?, ?, ?, 'posted', ?, 'forged', ?)`,
    );
    insert.run(userId, -5, "purchase", "forged-1", 95);
    insert.run(userId, -200, "usage", "forged-2", -105);
    const kinds = verifyLedger(v, { sweepGraceMs: 0 }).violations.map((x) => x.kind);
    expect(kinds).toContain("bad_amount");
    expect(kinds).toContain("negative_from_spending");
    expect(kinds).toContain("balance_mismatch");
    closeDatabase(v);
  });
});
