// Balance alerts on SQLite and on a real PostgreSQL (decision 036): one mail per crossing however
// many spends and checks race over it, re-armed by a rise, the mail inside the body that fires
// (a failed queue leaves the alert armed), hostile thresholds refused. The mail is queued
// through the body's tx by the mail queue itself.
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { closeEngines, ENGINES, insertUserOn, type EngineDb } from "../../../tests/support/engines";
import { enqueueMail, type QueueMailIn } from "../mail/mail-queue.server";
import { grant, hold } from "../money/ledger.server";
import { announceSpend, onSpend } from "../spend-listeners.server";
import { balanceAlertBannerOf } from "./balance-alert-banner.server";
import { checkBalanceAlert, getBalanceAlert, MAX_ALERT_THRESHOLD, setBalanceAlert } from "./balance-alerts.server";

afterAll(async () => {
  await closeEngines();
});

const T0 = Date.UTC(2026, 11, 1, 9, 0);
const APP = "https://credits.example";

const queueMail: QueueMailIn = enqueueMail;
const opts = (now: number) => ({ appUrl: APP, now, queueMail });

describe.each(ENGINES)("balance alerts on $name", (engine) => {
  let db: EngineDb;
  let n = 0;
  beforeAll(async () => {
    db = await engine.open();
  }, 60_000);

  const user = async (credits: number) => {
    const id = await insertUserOn(db, `alert-${++n}-${engine.name.toLowerCase()}@example.com`);
    if (credits > 0) await grant(db.sql, { userId: id, amount: credits, type: "bonus", key: `alert-g${++n}`, description: "test credits", now: T0 });
    return id;
  };
  const spend = async (userId: number, cost: number, now: number) => {
    const held = await hold(db.sql, { userId, cost, key: `alert-h${++n}`, description: "image", ttlSeconds: 600, now });
    if (!held.ok) throw new Error("test spend refused");
    return held.transaction.id;
  };
  const mailsTo = async (userId: number) =>
    db.sql.all<{ kind: string; subject: string; text: string }>(
      `SELECT m.kind, m.subject, m.text_body AS text FROM mail_queue m JOIN users u ON u.email = m.to_address WHERE u.id = ? ORDER BY m.id`,
      [userId],
    );

  it("one mail when the balance first falls below, none for further falls, a purchase re-arms, the next fall mails again", async () => {
    const a = await user(100);
    expect(await getBalanceAlert(db, a, T0)).toEqual({ thresholdCredits: null, state: "off", balance: 100, below: false });
    expect(await setBalanceAlert(db, a, 50, T0)).toEqual({ thresholdCredits: 50, state: "armed", balance: 100, below: false });
    await spend(a, 50, T0 + 1);
    expect(await checkBalanceAlert(db, a, opts(T0 + 1))).toMatchObject({ balance: 50, state: "armed", transition: "none" });
    await spend(a, 5, T0 + 2);
    const fired = await checkBalanceAlert(db, a, opts(T0 + 3));
    expect(fired).toMatchObject({ balance: 45, state: "fired", below: true, transition: "fired", mailId: expect.any(Number) });
    expect(await mailsTo(a)).toEqual([expect.objectContaining({ kind: "balance_low", subject: "Your balance is below 50 credits" })]);
    expect((await mailsTo(a))[0]!.text).toContain("Your Credits Studio balance is 45 credits");
    await spend(a, 5, T0 + 4);
    expect(await checkBalanceAlert(db, a, opts(T0 + 5))).toMatchObject({ transition: "none", state: "fired" });
    // A purchase by webhook (no check runs), then a spend below again: a new crossing.
    await grant(db.sql, { userId: a, amount: 100, type: "purchase", key: `alert-p${++n}`, description: "pack", now: T0 + 6 });
    await spend(a, 95, T0 + 7);
    expect(await checkBalanceAlert(db, a, opts(T0 + 8))).toMatchObject({ transition: "fired", balance: 45 });
    expect(await mailsTo(a)).toHaveLength(2);
    // A check that reads the balance back above re-arms it.
    await grant(db.sql, { userId: a, amount: 10, type: "purchase", key: `alert-p${++n}`, description: "pack", now: T0 + 9 });
    expect(await checkBalanceAlert(db, a, opts(T0 + 10))).toMatchObject({ transition: "rearmed", state: "armed", below: false });
  });

  it("20 parallel spends across the threshold, each checked as it lands: exactly one alert, one mail", async () => {
    const a = await user(100);
    await setBalanceAlert(db, a, 50, T0);
    const results = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        await spend(a, 5, T0 + 1 + i);
        return (await checkBalanceAlert(db, a, opts(T0 + 30 + i))).transition;
      }),
    );
    expect(results.filter((t) => t === "fired")).toHaveLength(1);
    expect(results.filter((t) => t === "rearmed")).toHaveLength(0);
    expect(await mailsTo(a)).toHaveLength(1);
    expect(await getBalanceAlert(db, a, T0 + 60)).toMatchObject({ state: "fired", balance: 0, below: true });
  });

  it("20 parallel checks after one fall: one fires; 20 parallel checks after the rise: one re-arms", async () => {
    const a = await user(60);
    await setBalanceAlert(db, a, 50, T0);
    await spend(a, 20, T0 + 1);
    const fired = await Promise.all(Array.from({ length: 20 }, (_, i) => checkBalanceAlert(db, a, opts(T0 + 2 + i))));
    expect(fired.filter((r) => r.transition === "fired")).toHaveLength(1);
    expect(fired.every((r) => r.state === "fired")).toBe(true);
    await grant(db.sql, { userId: a, amount: 30, type: "purchase", key: `alert-p${++n}`, description: "pack", now: T0 + 30 });
    const rearmed = await Promise.all(Array.from({ length: 20 }, (_, i) => checkBalanceAlert(db, a, opts(T0 + 31 + i))));
    expect(rearmed.filter((r) => r.transition === "rearmed")).toHaveLength(1);
    expect(await getBalanceAlert(db, a, T0 + 60)).toMatchObject({ state: "armed" });
    expect(await mailsTo(a)).toHaveLength(1);
  });

  it("the mail is inside the body that fires: a queue that fails leaves the alert armed and no mail", async () => {
    const a = await user(20);
    await setBalanceAlert(db, a, 15, T0);
    await spend(a, 10, T0 + 1);
    const failing: QueueMailIn = async (tx, ...rest) => {
      await queueMail(tx, ...rest);
      throw new Error("queue refused");
    };
    await expect(checkBalanceAlert(db, a, { appUrl: APP, now: T0 + 2, queueMail: failing })).rejects.toThrow("queue refused");
    expect(await getBalanceAlert(db, a, T0 + 3)).toMatchObject({ state: "armed", below: true });
    expect(await mailsTo(a)).toEqual([]);
    // The app's own queue (no queueMail given) on this engine: it fires, and the mail is there.
    expect((await checkBalanceAlert(db, a, { appUrl: APP, now: T0 + 4 })).transition).toBe("fired");
    expect(await mailsTo(a)).toHaveLength(1);
  });

  it("setting: the same value keeps the state, a value above the balance starts fired without a mail, null turns it off", async () => {
    const a = await user(30);
    expect(await setBalanceAlert(db, a, 50, T0)).toMatchObject({ state: "fired", below: true });
    expect((await checkBalanceAlert(db, a, opts(T0 + 1))).transition).toBe("none");
    expect(await setBalanceAlert(db, a, 20, T0 + 2)).toMatchObject({ state: "armed", below: false });
    await spend(a, 15, T0 + 3);
    expect((await checkBalanceAlert(db, a, opts(T0 + 4))).transition).toBe("fired");
    expect(await setBalanceAlert(db, a, 20, T0 + 5)).toMatchObject({ state: "fired" });
    expect(await setBalanceAlert(db, a, null, T0 + 6)).toEqual({ thresholdCredits: null, state: "off", balance: 15, below: false });
    expect(await db.sql.get("SELECT user_id FROM balance_alerts WHERE user_id = ?", [a])).toBeUndefined();
    expect(await mailsTo(a)).toHaveLength(1);
  });

  it.each([0, -1, 1.5, MAX_ALERT_THRESHOLD + 1, 1e12, Number.NaN, Number.POSITIVE_INFINITY, "5" as unknown as number])(
    "refuses threshold %s and changes nothing",
    async (bad) => {
      const a = await user(10);
      await setBalanceAlert(db, a, 5, T0);
      await expect(setBalanceAlert(db, a, bad, T0 + 1)).rejects.toThrow(RangeError);
      expect(await getBalanceAlert(db, a, T0 + 2)).toMatchObject({ thresholdCredits: 5, state: "armed" });
    },
  );

  it("a deleted account's alert fires without a mail; an unknown user has no alert", async () => {
    const a = await user(10);
    await setBalanceAlert(db, a, 8, T0);
    await db.sql.run("UPDATE users SET deleted_at = ? WHERE id = ?", [T0, a]);
    await spend(a, 5, T0 + 1);
    expect(await checkBalanceAlert(db, a, opts(T0 + 2))).toMatchObject({ transition: "fired", mailId: undefined });
    expect(await mailsTo(a)).toEqual([]);
    expect(await checkBalanceAlert(db, 999_999_999, opts(T0))).toMatchObject({ state: "off", transition: "none" });
  });

  it("the banner: shown while below (read, no write once fired), hidden when above or off", async () => {
    const a = await user(30);
    expect(await balanceAlertBannerOf(db, a, APP)).toBeNull();
    await setBalanceAlert(db, a, 50);
    expect(await balanceAlertBannerOf(db, a, APP)).toEqual({ balance: 30, thresholdCredits: 50 });
    await setBalanceAlert(db, a, 10);
    expect(await balanceAlertBannerOf(db, a, APP)).toBeNull();
  });
});

describe("spend listeners", () => {
  it("run on the next turn with the database and the user; one that throws or rejects is logged, the others still run", async () => {
    const seen: number[] = [];
    const log = { error: vi.fn() };
    const offs = [
      onSpend(() => {
        throw new Error("sync failure");
      }),
      onSpend(async () => {
        throw new Error("async failure");
      }),
      onSpend((_db, userId) => void seen.push(userId)),
    ];
    const db = { sql: {} } as unknown as EngineDb;
    announceSpend(db, 7, log);
    expect(seen).toEqual([]);
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    expect(seen).toEqual([7]);
    expect(log.error).toHaveBeenCalledTimes(2);
    for (const off of offs) off();
    announceSpend(db, 8, log);
    await new Promise((r) => setImmediate(r));
    expect(seen).toEqual([7]);
  });
});
