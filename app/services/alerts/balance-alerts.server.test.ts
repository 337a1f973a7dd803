import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createTestDb, insertUser } from "../../../tests/support/db";
import { adjust, grant, hold, voidHold } from "../money/ledger.server";
import { checkBalanceAlert, getBalanceAlert, setBalanceAlert, MAX_ALERT_THRESHOLD } from "./balance-alerts.server";

// The balance alert's state machine with a clock: every call is given its `now`.

const T0 = Date.UTC(2026, 11, 1, 9, 0);
const opts = (now: number) => ({ appUrl: "https://credits.example", now });

let db: ReturnType<typeof createTestDb>;
let n = 0;
beforeEach(async () => {
  db = createTestDb();
});
afterEach(() => db.remove());

async function user(credits: number): Promise<number> {
  const id = insertUser(db, `alert${++n}@example.com`);
  if (credits > 0) await grant(db, { userId: id, amount: credits, type: "bonus", key: `g${++n}`, description: "test credits", now: T0 });
  return id;
}
const give = async (userId: number, amount: number, now: number) =>
  await grant(db, { userId, amount, type: "purchase", key: `p${++n}`, description: "pack", now });
const spend = async (userId: number, cost: number, now: number) => {
  const held = await hold(db, { userId, cost, key: `h${++n}`, description: "image", ttlSeconds: 600, now });
  if (!held.ok) throw new Error("test spend refused");
  return held.transaction.id;
};
type MailRow = { to_address: string; kind: string; subject: string; text_body: string };
const mails = () => db.sqlite.prepare("select to_address, kind, subject, text_body from mail_queue order by id").all() as MailRow[];

describe("balance alerts", () => {
  it("off by default: no row, no banner, no mail however low the balance", async () => {
    const a = await user(10);
    expect(await getBalanceAlert(db, a, T0)).toEqual({ thresholdCredits: null, state: "off", balance: 10, below: false });
    await spend(a, 10, T0 + 1);
    expect(await checkBalanceAlert(db, a, opts(T0 + 2))).toMatchObject({ state: "off", transition: "none" });
    expect(mails()).toEqual([]);
  });

  it("one mail when the balance first falls below; none for further spends below; a purchase back above re-arms; the next fall mails again", async () => {
    const a = await user(100);
    expect(await setBalanceAlert(db, a, 50, T0)).toMatchObject({ thresholdCredits: 50, state: "armed", below: false });
    await spend(a, 50, T0 + 1); // 50: at the threshold is not below it
    expect(await checkBalanceAlert(db, a, opts(T0 + 1))).toMatchObject({ balance: 50, state: "armed", transition: "none" });
    await spend(a, 5, T0 + 2); // 45
    const fired = await checkBalanceAlert(db, a, opts(T0 + 3));
    expect(fired).toMatchObject({ balance: 45, state: "fired", below: true, transition: "fired" });
    expect(fired.mailId).toBeTypeOf("number");
    expect(mails()).toHaveLength(1);
    expect(mails()[0]).toMatchObject({ kind: "balance_low", subject: "Your balance is below 50 credits" });
    expect(mails()[0].text_body).toContain("Your Credits Studio balance is 45 credits");
    expect(mails()[0].text_body).toContain("Buy credits: https://credits.example/settings/billing");

    await spend(a, 5, T0 + 4); // 40
    expect(await checkBalanceAlert(db, a, opts(T0 + 5))).toMatchObject({ transition: "none", state: "fired" });
    expect(await checkBalanceAlert(db, a, opts(T0 + 6))).toMatchObject({ transition: "none", state: "fired" });
    expect(mails()).toHaveLength(1);

    // A purchase arrives (by webhook: no check runs), then a spend takes the balance below again.
    await give(a, 100, T0 + 7); // 140
    await spend(a, 95, T0 + 8); // 45
    expect(await checkBalanceAlert(db, a, opts(T0 + 9))).toMatchObject({ transition: "fired", balance: 45 });
    expect(mails()).toHaveLength(2);
  });

  it("a check that reads the balance back above re-arms it (page load), and a void gives the next spend a starting point above", async () => {
    const a = await user(60);
    await setBalanceAlert(db, a, 50, T0);
    const h = await spend(a, 20, T0 + 1); // 40
    expect((await checkBalanceAlert(db, a, opts(T0 + 2))).transition).toBe("fired");
    await voidHold(db, h, "failed", T0 + 3); // 60: no ledger row of its own
    expect(await checkBalanceAlert(db, a, opts(T0 + 4))).toMatchObject({ transition: "rearmed", state: "armed", below: false });
    await spend(a, 20, T0 + 5);
    expect((await checkBalanceAlert(db, a, opts(T0 + 6))).transition).toBe("fired");
    expect(mails()).toHaveLength(2);

    // A void nobody looked at: the next spend started at 60, above 50, so its fall is a new crossing.
    const b = await user(60);
    await setBalanceAlert(db, b, 50, T0);
    const hb = await spend(b, 20, T0 + 1);
    expect((await checkBalanceAlert(db, b, opts(T0 + 2))).transition).toBe("fired");
    await voidHold(db, hb, "failed", T0 + 3);
    await spend(b, 20, T0 + 4);
    expect((await checkBalanceAlert(db, b, opts(T0 + 5))).transition).toBe("fired");
    expect(mails()).toHaveLength(4);
  });

  it("a fall without a spend (an admin's correction) fires at the next check; many checks over one crossing mail once", async () => {
    const a = await user(100);
    await setBalanceAlert(db, a, 50, T0);
    await adjust(db, { userId: a, amount: -80, key: `adj${++n}`, adminId: insertUser(db, `admin${++n}@example.com`), reason: "test", now: T0 + 1 });
    const results = (await Promise.all(Array.from({ length: 20 }, (_, i) => checkBalanceAlert(db, a, opts(T0 + 2 + i))))).map((r) => r.transition);
    expect(results.filter((t) => t === "fired")).toHaveLength(1);
    expect(mails()).toHaveLength(1);
  });

  it("20 spends crossing at once, checked afterwards in any order: exactly one mail", async () => {
    const a = await user(100);
    await setBalanceAlert(db, a, 50, T0);
    for (let i = 0; i < 20; i++) await spend(a, 5, T0 + 1 + i); // 95 … 0
    const results = (await Promise.all(Array.from({ length: 20 }, (_, i) => checkBalanceAlert(db, a, opts(T0 + 30 + i))))).map((r) => r.transition);
    expect(results.filter((t) => t === "fired")).toHaveLength(1);
    expect(mails()).toHaveLength(1);
  });

  it("setting: the same value keeps the state; a new value below the balance starts fired without a mail; null turns it off", async () => {
    const a = await user(30);
    expect(await setBalanceAlert(db, a, 50, T0)).toMatchObject({ state: "fired", below: true });
    expect((await checkBalanceAlert(db, a, opts(T0 + 1))).transition).toBe("none");
    expect(mails()).toEqual([]);
    expect(await setBalanceAlert(db, a, 20, T0 + 2)).toMatchObject({ state: "armed", below: false });
    await spend(a, 15, T0 + 3);
    expect((await checkBalanceAlert(db, a, opts(T0 + 4))).transition).toBe("fired");
    expect(await setBalanceAlert(db, a, 20, T0 + 5)).toMatchObject({ state: "fired" }); // unchanged: not re-armed
    expect((await checkBalanceAlert(db, a, opts(T0 + 6))).transition).toBe("none");
    expect(await setBalanceAlert(db, a, null, T0 + 7)).toMatchObject({ state: "off", thresholdCredits: null, below: false });
    expect(mails()).toHaveLength(1);
  });

  it.each([0, -1, 1.5, MAX_ALERT_THRESHOLD + 1, 1e12, Number.NaN, Number.POSITIVE_INFINITY])("refuses threshold %s and changes nothing", async (bad) => {
    const a = await user(10);
    await setBalanceAlert(db, a, 5, T0);
    await expect(setBalanceAlert(db, a, bad, T0 + 1)).rejects.toThrow(RangeError);
    expect(await getBalanceAlert(db, a, T0 + 2)).toMatchObject({ thresholdCredits: 5, state: "armed" });
  });

  it("a deleted account's alert fires without a mail (it has no address)", async () => {
    const a = await user(10);
    await setBalanceAlert(db, a, 8, T0);
    db.sqlite.prepare("update users set deleted_at = ? where id = ?").run(T0, a);
    await spend(a, 5, T0 + 1);
    expect(await checkBalanceAlert(db, a, opts(T0 + 2))).toMatchObject({ transition: "fired", mailId: undefined });
    expect(mails()).toEqual([]);
  });
});
