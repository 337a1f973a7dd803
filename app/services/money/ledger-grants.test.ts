/**
 * Grants and expiry: spending order, an expired credit is never spent, voids give back to the
 * grants they drew from, clawbacks take from their purchase first, expiry rows, the backfill, and
 * the verifier's grant checks (each one shown to fire).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { closeDatabase, MIGRATIONS_DIR, migrateDatabase, openDatabase, openMigratedDatabase, type AppDb } from "../../../db/client.server";
import { startHoldSweeper } from "./hold-sweeper.server";
import { ledgerKeys } from "./ledger-keys.server";
import { adjust, clawback, closeGrant, expireDueGrants, findPurchaseByPaymentId, getBalance, grant, grantLeftOf, grantsOfRows, hold, LedgerError, postHold, voidHold } from "./ledger.server";
import { verifyLedger, type ViolationKind } from "./ledger-verify.server";

const T = 1_900_000_000_000;
const DAY = 86_400_000;
let dir: string;
let db: AppDb;
let n = 0;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "credits-grants-"));
  db = openMigratedDatabase(path.join(dir, "app.sqlite"));
});

afterAll(async () => {
  closeDatabase(db);
  fs.rmSync(dir, { recursive: true, force: true });
});

function newUser(): number {
  return Number(db.sqlite.prepare("insert into users(email, password_hash) values (?, 'x')").run(`g${++n}@example.com`).lastInsertRowid);
}

async function give(userId: number, amount: number, expiresAt: number | null, now = T, type: "bonus" | "purchase" = "bonus", stripePaymentId?: string): Promise<number> {
  return (await grant(db, { userId, amount, type, key: `g-${++n}`, description: "grant", expiresAt, now, stripePaymentId })).transaction.id;
}

function grantOf(txId: number) {
  return db.sqlite.prepare("select id, remaining, closed_at as closedAt, kind from credit_grants where source_tx_id = ?").get(txId) as {
    id: number; remaining: number; closedAt: number | null; kind: string;
  };
}

function drawsOf(txId: number): Array<{ grantId: number; amount: number }> {
  return db.sqlite.prepare("select grant_id as grantId, amount from grant_draws where tx_id = ? order by rowid").all(txId) as Array<{ grantId: number; amount: number }>;
}

function credits(userId: number): number {
  return (db.sqlite.prepare("select credits from users where id = ?").get(userId) as { credits: number }).credits;
}

async function placeHold(userId: number, cost: number, now: number) {
  return await hold(db, { userId, cost, key: `h-${++n}`, description: "hold", ttlSeconds: 60, now });
}

function expectClean(now: number) {
  expect(verifyLedger(db, { sweepGraceMs: Number.MAX_SAFE_INTEGER, now }).violations).toEqual([]);
}

describe("spending order and expiry", () => {
  it("draws from the grant that expires soonest, then the oldest, and never-expiring grants last", async () => {
    const userId = newUser();
    const never = await give(userId, 10, null);
    const late = await give(userId, 10, T + 3 * DAY);
    const soonA = await give(userId, 10, T + DAY);
    const soonB = await give(userId, 10, T + DAY);
    const h = await placeHold(userId, 35, T + 1);
    if (!h.ok) throw new Error("refused");
    expect(drawsOf(h.transaction.id)).toEqual([
      { grantId: grantOf(soonA).id, amount: 10 },
      { grantId: grantOf(soonB).id, amount: 10 },
      { grantId: grantOf(late).id, amount: 10 },
      { grantId: grantOf(never).id, amount: 5 },
    ]);
    expect(getBalance(db, userId, T + 1)).toEqual({ balance: 5, onHold: 35, nextExpiry: null });
    expectClean(T + 1);
  });

  it("never spends an expired credit, even before the sweep has written its expiry", async () => {
    const userId = newUser();
    await give(userId, 10, T + 1000);
    await give(userId, 4, null);
    expect(getBalance(db, userId, T + 999)).toEqual({ balance: 14, onHold: 0, nextExpiry: { amount: 10, expiresAt: T + 1000 } });
    // At the expiry instant the credit is gone: spendable counts live grants only.
    expect(getBalance(db, userId, T + 1000).balance).toBe(4);
    expect(credits(userId)).toBe(14); // the cached sum still counts it, until expireDueGrants
    expect(await placeHold(userId, 5, T + 1000)).toEqual({ ok: false, reason: "insufficient_credits", balance: 4, needed: 5 });
    expect(await adjust(db, { userId, amount: -5, adminId: userId, reason: "x", key: `a-${++n}`, now: T + 1000 })).toMatchObject({ ok: false, balance: 4 });
    const h = await placeHold(userId, 4, T + 1000);
    expect(h.ok).toBe(true);
    expectClean(T + 1000);
  });

  it("expireDueGrants writes one expire row for the unspent rest and closes the grant, once", async () => {
    const userId = newUser();
    const tx = await give(userId, 10, T + 1000);
    const h = await placeHold(userId, 3, T);
    if (!h.ok) throw new Error("refused");
    await postHold(db, h.transaction.id, T);
    expect(await expireDueGrants(db, T + 999)).toBe(0);
    expect(await expireDueGrants(db, T + 1000)).toBeGreaterThanOrEqual(1);
    const g = grantOf(tx);
    expect(g).toMatchObject({ remaining: 0, closedAt: T + 1000 });
    const row = db.sqlite.prepare("select amount, type, status, meta, balance_after as b from transactions where idempotency_key = ?").get(ledgerKeys.grantExpiry(g.id));
    expect(row).toEqual({ amount: -7, type: "expire", status: "posted", meta: JSON.stringify({ grantId: g.id }), b: 0 });
    expect(credits(userId)).toBe(0);
    expect(await expireDueGrants(db, T + 5000)).toBe(0);
    expectClean(T + 5000);
  });

  it("expires in batches", async () => {
    const userId = newUser();
    for (let i = 0; i < 7; i++) await give(userId, 1, T + 10);
    expect(await expireDueGrants(db, T + 10, { batchSize: 3 })).toBeGreaterThanOrEqual(7);
    expect(getBalance(db, userId, T + 10).balance).toBe(0);
    expect(credits(userId)).toBe(0);
  });

  it("a void gives back to the same grants; what returns to an expired or closed grant expires at once", async () => {
    const userId = newUser();
    const live = await give(userId, 5, null);
    const expiring = await give(userId, 5, T + 1000);
    const a = await placeHold(userId, 4, T);
    const b = await placeHold(userId, 3, T);
    if (!a.ok || !b.ok) throw new Error("refused");
    // a took 4 from the expiring grant; b took its last 1, then 2 from the live one.
    await voidHold(db, a.transaction.id, "failed", T + 1001); // expired, not yet closed: closes now with the 4
    const g = grantOf(expiring);
    expect(g).toMatchObject({ remaining: 0, closedAt: T + 1001 });
    expect(db.sqlite.prepare("select amount from transactions where idempotency_key = ?").get(ledgerKeys.grantExpiry(g.id))).toEqual({ amount: -4 });
    await voidHold(db, b.transaction.id, "failed", T + 1002); // closed: its 1 gets an expire row of its own
    expect(db.sqlite.prepare("select amount from transactions where idempotency_key = ?").get(ledgerKeys.grantExpiryAfterVoid(g.id, b.transaction.id))).toEqual({ amount: -1 });
    expect(grantOf(live).remaining).toBe(5);
    expect(getBalance(db, userId, T + 1002).balance).toBe(5);
    expect(credits(userId)).toBe(5);
    expect(drawsOf(a.transaction.id)).toEqual([]);
    expectClean(T + 1002);
  });

  it("a hold placed before grants existed gives back into a new grant that never expires", async () => {
    const userId = newUser();
    await give(userId, 10, null);
    const h = await placeHold(userId, 6, T);
    if (!h.ok) throw new Error("refused");
    // As if from before 0005: no draws, and the backfill's opening grant holds what was left.
    db.sqlite.prepare("delete from grant_draws where tx_id = ?").run(h.transaction.id);
    db.sqlite.prepare("update credit_grants set amount = remaining, kind = 'opening', source_tx_id = null where user_id = ?").run(userId);
    await voidHold(db, h.transaction.id, "failed", T + 1);
    const opening = db.sqlite.prepare("select amount, remaining, expires_at as e from credit_grants where user_id = ? and kind = 'opening'").all(userId);
    expect(opening).toEqual([{ amount: 4, remaining: 4, e: null }, { amount: 6, remaining: 6, e: null }]);
    expect(getBalance(db, userId, T + 1).balance).toBe(10);
    expectClean(T + 1);
  });

  it("refuses an expiry that is not in the future, and an expiry on a debit", async () => {
    const userId = newUser();
    await expect(give(userId, 1, T)).rejects.toThrow(LedgerError);
    await expect(adjust(db, { userId, amount: -1, adminId: userId, reason: "x", key: `a-${++n}`, expiresAt: T + 1, now: T })).rejects.toThrow(/only credits given/);
    const r = await adjust(db, { userId, amount: 5, type: "bonus", adminId: userId, reason: "x", key: `a-${++n}`, expiresAt: T + DAY, now: T });
    if (!r.ok) throw new Error("refused");
    expect(grantOf(r.transaction.id)).toMatchObject({ kind: "admin", remaining: 5 });
    expect(grantsOfRows(db, [r.transaction.id])).toEqual(new Map([[r.transaction.id, { expiresAt: T + DAY, closed: false }]]));
  });
});

describe("an expiry racing spending", () => {
  it("no hold at or after the expiry instant draws from the expired grant, whichever connection writes", async () => {
    const other = openMigratedDatabase(db.path); // a second writer on the same file
    try {
      const userId = newUser();
      const expiresAt = Date.now() + 40;
      const expiring = grantOf((await grant(db, { userId, amount: 1_000, type: "bonus", key: `race-${++n}`, description: "x", expiresAt })).transaction.id).id;
      await grant(db, { userId, amount: 100_000, type: "bonus", key: `race-${++n}`, description: "x" });
      const late: number[] = [];
      let i = 0;
      // A tight loop across the expiry instant, both connections, the real clock; the sweep runs
      // in the middle of it so some holds land before it has noticed the expiry and some after.
      while (Date.now() < expiresAt + 40) {
        const conn = i++ % 2 === 0 ? db : other;
        const h = await hold(conn, { userId, cost: 1, key: `race-h-${++n}`, description: "x", ttlSeconds: 60 });
        if (!h.ok) throw new Error("refused");
        if (h.transaction.createdAt >= expiresAt) late.push(h.transaction.id);
        if (i % 7 === 0) await expireDueGrants(other);
      }
      expect(late.length).toBeGreaterThan(0);
      const fromExpired = db.sqlite.prepare("select count(*) as c from grant_draws where grant_id = ? and tx_id in (select value from json_each(?))").get(expiring, JSON.stringify(late));
      expect(fromExpired).toEqual({ c: 0 });
      expect(verifyLedger(db, { sweepGraceMs: Number.MAX_SAFE_INTEGER }).violations).toEqual([]);
    } finally {
      closeDatabase(other);
    }
  });
});

describe("clawbacks", () => {
  it("take from the purchase's own grant first, then in spending order, the rest from a debt grant", async () => {
    const userId = newUser();
    const purchase = await give(userId, 10, null, T, "purchase", "pi_claw_1");
    const bonus = await give(userId, 5, T + DAY);
    const claw = await clawback(db, { userId, amount: 18, key: `c-${++n}`, description: "refund", stripePaymentId: "pi_claw_1", now: T + 1 });
    const debt = db.sqlite.prepare("select id, remaining from credit_grants where user_id = ? and kind = 'debt'").get(userId) as { id: number; remaining: number };
    expect(drawsOf(claw.transaction.id)).toEqual([
      { grantId: grantOf(purchase).id, amount: 10 },
      { grantId: grantOf(bonus).id, amount: 5 },
      { grantId: debt.id, amount: 3 },
    ]);
    expect(debt.remaining).toBe(-3);
    expect(getBalance(db, userId, T + 1).balance).toBe(-3);
    await give(userId, 5, null, T + 2);
    expect(getBalance(db, userId, T + 2).balance).toBe(2); // the debt counts against new credits
    expect(await placeHold(userId, 3, T + 2)).toMatchObject({ ok: false, balance: 2 });
    // A second clawback takes the 5 left, and adds the rest to the same debt grant.
    await clawback(db, { userId, amount: 7, key: `c-${++n}`, description: "refund", now: T + 3, purchaseTransactionId: purchase });
    expect(db.sqlite.prepare("select count(*) as c, sum(remaining) as r from credit_grants where user_id = ? and kind = 'debt'").get(userId)).toEqual({ c: 1, r: -5 });
    expectClean(T + 3);
  });
});

describe("the hold sweeper", () => {
  it("also closes expired grants on its interval", async () => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval", "Date"] });
    try {
      vi.setSystemTime(T + 10 * DAY);
      const userId = newUser();
      await give(userId, 10, Date.now() + 1500, Date.now());
      const sweeper = startHoldSweeper(db, { intervalMs: 1000 });
      await sweeper.idle();
      vi.advanceTimersByTime(1000);
      await sweeper.idle();
      expect(credits(userId)).toBe(10);
      vi.advanceTimersByTime(1000);
      await sweeper.idle();
      expect(credits(userId)).toBe(0);
      sweeper.stop();
    } finally {
      vi.useRealTimers();
    }
  });
});

describe("the verifier's grant checks", () => {
  function kinds(now = T): ViolationKind[] {
    return verifyLedger(db, { sweepGraceMs: 1000, now }).violations.map((v) => v.kind);
  }

  it("finds each broken grant invariant", async () => {
    const file = path.join(dir, "tamper.sqlite");
    const saved = db;
    db = openMigratedDatabase(file);
    try {
      const userId = newUser();
      const tx = await give(userId, 10, T + 100);
      expect(kinds()).toEqual([]);
      expect(kinds(T + 2000)).toEqual(["stale_grant"]);
      db.sqlite.prepare("update credit_grants set remaining = 9 where source_tx_id = ?").run(tx);
      expect(kinds()).toEqual(expect.arrayContaining(["grant_mismatch", "bad_grant"]));
      db.sqlite.prepare("update credit_grants set remaining = 10 where source_tx_id = ?").run(tx);
      const h = await placeHold(userId, 2, T);
      if (!h.ok) throw new Error("refused");
      db.sqlite.prepare("update grant_draws set amount = 1 where tx_id = ?").run(h.transaction.id);
      expect(kinds()).toEqual(expect.arrayContaining(["bad_draw", "bad_grant"]));
      db.sqlite.prepare("update grant_draws set amount = 2 where tx_id = ?").run(h.transaction.id);
      db.sqlite.prepare("update transactions set status = 'voided', settled_at = 1, meta = ? where id = ?").run(JSON.stringify({ voidReason: "x", voidBalanceAfter: 10, voidAfterId: h.transaction.id }), h.transaction.id);
      expect(kinds()).toContain("bad_draw");
      db.sqlite.prepare("update transactions set meta = '{\"grantId\":999}', type = 'expire' where id = ?").run(tx);
      expect(kinds()).toContain("bad_expire");
    } finally {
      closeDatabase(db);
      db = saved;
    }
  });
});

describe("closing a grant before its expiry (a subscription renewal)", async () => {
  const planGrant = async (userId: number, amount: number, expiresAt: number, stripePaymentId?: string) =>
    (await grant(db, { userId, amount, type: "plan", key: `plan-${++n}`, description: "plan", expiresAt, now: T, stripePaymentId })).transaction.id;

  it("expires the unspent rest now with its own row; again is a replay; the sweep later writes nothing", async () => {
    const u = newUser();
    const tx = await planGrant(u, 100, T + 30 * DAY);
    await placeHold(u, 30, T + 1);
    expect(grantLeftOf(db, tx, T + 2)).toBe(70);
    expect(await closeGrant(db, { sourceTxId: tx, now: T + 2 })).toEqual({ expired: 70 });
    expect(grantOf(tx)).toMatchObject({ remaining: 0, closedAt: T + 2, kind: "plan" });
    expect(grantLeftOf(db, tx, T + 3)).toBe(0);
    const rows = db.sqlite.prepare("select type, amount, idempotency_key as key from transactions where user_id = ? and type = 'expire'").all(u);
    expect(rows).toEqual([{ type: "expire", amount: -70, key: ledgerKeys.grantExpiry(grantOf(tx).id) }]);
    expect(await closeGrant(db, { sourceTxId: tx, now: T + 3 })).toEqual({ expired: 70 });
    await expireDueGrants(db, T + 31 * DAY);
    expect(db.sqlite.prepare("select count(*) as c from transactions where user_id = ? and type = 'expire'").get(u)).toEqual({ c: 1 });
    expect(credits(u)).toBe(0);
    expectClean(T + 31 * DAY);
  });

  it("after the sweep closed it, answers what the sweep expired (a renewal that arrives late still knows the rest)", async () => {
    const u = newUser();
    const tx = await planGrant(u, 40, T + DAY);
    expect(grantLeftOf(db, tx, T + DAY)).toBe(0);
    await expireDueGrants(db, T + DAY + 1);
    expect(await closeGrant(db, { sourceTxId: tx, now: T + DAY + 2 })).toEqual({ expired: 40 });
    expectClean(T + DAY + 2);
  });

  it("a spent grant, or a row that opened none, expires nothing", async () => {
    const u = newUser();
    const tx = await planGrant(u, 10, T + DAY);
    await placeHold(u, 10, T + 1);
    expect(await closeGrant(db, { sourceTxId: tx, now: T + 2 })).toEqual({ expired: 0 });
    // Nothing was left to spend either.
    expect((await placeHold(u, 1, T + 3)).ok).toBe(false);
    expect(await closeGrant(db, { sourceTxId: 9_999_999, now: T + 2 })).toEqual({ expired: 0 });
    await expect(closeGrant(db, { sourceTxId: 0 })).rejects.toThrow(LedgerError);
    expectClean(T + 3);
  });

  it("a plan row is found by its payment, and a clawback takes from its grant first", async () => {
    const u = newUser();
    await give(u, 50, null);
    const tx = await planGrant(u, 100, T + DAY, "pi_plan_1");
    expect(findPurchaseByPaymentId(db, "pi_plan_1")?.id).toBe(tx);
    await clawback(db, { userId: u, amount: 30, key: `claw-${++n}`, description: "refund", stripePaymentId: "pi_plan_1", now: T + 1 });
    expect(grantOf(tx).remaining).toBe(70);
    expect(getBalance(db, u, T + 1).balance).toBe(120);
    expectClean(T + 1);
  });
});

describe("the 0005 backfill", () => {
  it("turns each balance into an opening grant, and a negative one into a debt grant", () => {
    const folder = path.join(dir, "migrations-0004");
    fs.cpSync(MIGRATIONS_DIR, folder, { recursive: true });
    const journalFile = path.join(folder, "meta/_journal.json");
    const journal = JSON.parse(fs.readFileSync(journalFile, "utf8")) as { entries: Array<{ tag: string }> };
    journal.entries = journal.entries.filter((e) => e.tag < "0005");
    fs.writeFileSync(journalFile, JSON.stringify(journal));
    const old = openDatabase(path.join(dir, "old.sqlite"));
    try {
      migrateDatabase(old, folder);
      const insert = old.sqlite.prepare("insert into users(email, password_hash, credits) values (?, 'x', ?)");
      for (const [email, c] of [["rich@x.com", 50], ["debt@x.com", -20], ["zero@x.com", 0]] as const) insert.run(email, c);
      expect(migrateDatabase(old)[0]).toBe("0005_credit_grants");
      expect(old.sqlite.prepare("select u.email, g.kind, g.amount, g.remaining, g.expires_at as e from credit_grants g join users u on u.id = g.user_id order by u.id").all()).toEqual([
        { email: "rich@x.com", kind: "opening", amount: 50, remaining: 50, e: null },
        { email: "debt@x.com", kind: "debt", amount: 0, remaining: -20, e: null },
      ]);
    } finally {
      closeDatabase(old);
    }
  });
});
