// The billing page's reads on SQLite and on a real PostgreSQL (decision 036): history pages both
// ways (keyset), the type filter, statuses (pending, refunded, partly refunded), grant expiries,
// a usage row's generation and API key, the admin's fields, the per-day chart, the receipts; and
// hostile cursors and ids answered as "no such row", never as an error.
import type Stripe from "stripe";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeEngines, ENGINES, insertUserOn, type EngineDb } from "../../tests/support/engines";
import { spendNow } from "../../tests/support/ledger";
import { findReceiptUrl, getCreditsChart, getPaymentReceipt, listHistoryPage } from "./billing-dashboard.server";
import { adjust, clawback, grant, hold, voidHold } from "./money/ledger.server";

afterAll(async () => {
  await closeEngines();
});

const DAY = 86_400_000;

describe.each(ENGINES)("the billing page's reads on $name", (engine) => {
  let db: EngineDb;
  let userId: number;
  let otherId: number;
  let adminId: number;
  let purchaseId: number;
  let keyId: number;
  let allIds: number[];
  const now = Date.now();

  beforeAll(async () => {
    db = await engine.open();
    const tag = engine.name.toLowerCase();
    userId = await insertUserOn(db, `reader-${tag}@example.com`);
    otherId = await insertUserOn(db, `other-${tag}@example.com`);
    adminId = await insertUserOn(db, `admin-${tag}@example.com`, "admin");
    await grant(db.sql, { userId, amount: 10, type: "bonus", key: "signup:r", description: "Sign-up bonus", expiresAt: now + 5 * DAY });
    await grant(db.sql, { userId, amount: 3, type: "bonus", key: "old:r", description: "Old promo", expiresAt: now - 1000, now: now - 2000 });
    purchaseId = (await grant(db.sql, {
      userId, amount: 500, type: "purchase", key: "checkout:cs_1", description: "Bought 500 credits", stripePaymentId: "pi_1", meta: { amountTotal: 500, currency: "usd" },
    })).transaction.id;
    await grant(db.sql, { userId, amount: 40, type: "topup", key: "topup:1", description: "Auto-recharge", stripePaymentId: "pi_top", meta: { amountTotal: 400, currency: "eur" } });
    for (let i = 0; i < 30; i++) await spendNow(db.sql, userId, 5, `Image ${i}`, `img:${i}`);
    keyId = (await db.sql.write((tx) => tx.get<{ id: number }>("INSERT INTO api_keys (user_id, name, prefix, key_hash, created_at) VALUES (?, 'ci-bot', 'csk_x', ?, ?) RETURNING id", [userId, `h-${tag}`, now])))!.id;
    await db.sql.run("INSERT INTO generations (id, user_id, kind, prompt, cost, status, provider, result_path) VALUES ('gen-ok', ?, 'image', ?, 5, 'succeeded', 'fake', 'r/gen-ok.png')", [userId, "a  very\n long prompt ".repeat(10)]);
    await db.sql.run("INSERT INTO generations (id, user_id, kind, prompt, cost, status, provider) VALUES ('gen-failed', ?, 'image', 'a cat', 5, 'failed', 'fake')", [userId]);
    const viaKey = await hold(db.sql, { userId, cost: 7, key: "via-key", description: "Image by API", ttlSeconds: 600, meta: { generationId: "gen-ok" }, apiKey: { id: keyId, monthlyLimit: null } });
    if (!viaKey.ok) throw new Error("hold");
    const failed = await hold(db.sql, { userId, cost: 50, key: "video:failed", description: "Video", ttlSeconds: 600, meta: { generationId: "gen-failed" } });
    if (!failed.ok) throw new Error("hold");
    await voidHold(db.sql, failed.transaction.id, "provider_failed");
    await hold(db.sql, { userId, cost: 20, key: "video:running", description: "Video", ttlSeconds: 600, meta: { generationId: "gen-gone" } });
    await clawback(db.sql, { userId, amount: 100, key: "refund:1", description: "Partial refund", stripePaymentId: "pi_1" });
    await clawback(db.sql, { userId, amount: 40, key: "refund:2", description: "Refunded", stripePaymentId: "pi_top" });
    await adjust(db.sql, { userId, amount: 15, adminId, reason: "goodwill", key: "admin:1", type: "bonus" });
    await grant(db.sql, { userId: otherId, amount: 7, type: "purchase", key: "other:1", description: "Someone else", stripePaymentId: "pi_other" });
    allIds = (await db.sql.all<{ id: number }>("SELECT id FROM transactions WHERE user_id = ? ORDER BY id DESC", [userId])).map((r) => r.id);
  }, 60_000);

  it("pages through the whole history newest first, every row once, and back again", async () => {
    const pages = [await listHistoryPage(db, { userId, limit: 7 })];
    expect(pages[0]!.newer).toBeNull();
    while (pages[pages.length - 1]!.older !== null) pages.push(await listHistoryPage(db, { userId, older: pages[pages.length - 1]!.older!, limit: 7 }));
    expect(pages.flatMap((p) => p.rows.map((r) => r.id))).toEqual(allIds);
    expect(pages).toHaveLength(Math.ceil(allIds.length / 7));
    const back = await listHistoryPage(db, { userId, newer: pages[pages.length - 1]!.newer!, limit: 7 });
    expect(back.rows.map((r) => r.id)).toEqual(pages[pages.length - 2]!.rows.map((r) => r.id));
    const top = await listHistoryPage(db, { userId, newer: pages[1]!.newer!, limit: 7 });
    expect(top.rows.map((r) => r.id)).toEqual(pages[0]!.rows.map((r) => r.id));
    expect(top.newer).toBeNull();
    // Filtered pages both ways too.
    const usage1 = await listHistoryPage(db, { userId, type: "usage", limit: 10 });
    const usage2 = await listHistoryPage(db, { userId, type: "usage", older: usage1.older!, limit: 10 });
    const usageBack = await listHistoryPage(db, { userId, type: "usage", newer: usage2.newer!, limit: 10 });
    expect(usageBack.rows.map((r) => r.id)).toEqual(usage1.rows.map((r) => r.id));
    expect([...usage1.rows, ...usage2.rows].every((r) => r.type === "usage")).toBe(true);
  });

  it("says what each row is: statuses, receipts, prices, expiries, the generation, the key", async () => {
    const rows = (await listHistoryPage(db, { userId, limit: 100 })).rows;
    const idOf = async (key: string) => (await db.sql.get<{ id: number }>("SELECT id FROM transactions WHERE idempotency_key = ?", [key]))!.id;
    const idsByKey = new Map<string, number>();
    for (const k of ["checkout:cs_1", "topup:1", "via-key", "video:failed", "video:running", "signup:r", "old:r", "admin:1", "refund:1"]) idsByKey.set(k, await idOf(k));
    const row = (key: string) => rows.find((r) => r.id === idsByKey.get(key))!;
    expect(row("checkout:cs_1")).toMatchObject({
      id: purchaseId, type: "purchase", displayStatus: "partly_refunded", refundedCredits: 100, hasReceipt: true, amountPaid: 500, currency: "usd", stripePaymentId: "pi_1", expiresAt: null, expired: false, generation: null, apiKeyName: null,
    });
    expect(row("topup:1")).toMatchObject({ displayStatus: "refunded", refundedCredits: 40, amountPaid: 400, currency: "eur" });
    expect(row("via-key")).toMatchObject({ displayStatus: "pending", amount: -7, apiKeyName: "ci-bot", hasReceipt: false, amountPaid: null, generation: { resultId: "gen-ok" } });
    const preview = (row("via-key")).generation!.prompt;
    expect(preview.length).toBeLessThanOrEqual(81);
    expect(preview).not.toMatch(/\s\s|\n/);
    expect(row("video:failed")).toMatchObject({ displayStatus: "refunded", generation: { prompt: "a cat", resultId: null } });
    expect(row("video:running")).toMatchObject({ displayStatus: "pending", generation: null });
    expect(row("signup:r")).toMatchObject({ expiresAt: now + 5 * DAY, expired: false });
    expect(row("old:r")).toMatchObject({ expiresAt: now - 1000, expired: true });
    expect(row("refund:1")).toMatchObject({ type: "refund", displayStatus: "posted", hasReceipt: false, stripePaymentId: "pi_1" });
    // The customer's view carries no admin fields; the admin's does.
    expect(row("admin:1")).not.toHaveProperty("reason");
    const admin = (await listHistoryPage(db, { userId, type: "bonus", forAdmin: true })).rows.find((r) => r.id === idsByKey.get("admin:1"));
    expect(admin).toMatchObject({ reason: "goodwill", adminEmail: expect.stringContaining("admin-") });
    expect((await listHistoryPage(db, { userId, type: "purchase", forAdmin: true })).rows[0]).toMatchObject({ adminEmail: null, reason: null });
    // Nobody else's rows.
    expect(rows.some((r) => r.description === "Someone else")).toBe(false);
  });

  it.each([
    [{ older: 1e20 }],
    [{ newer: 1e20 }],
    [{ older: Number.MAX_SAFE_INTEGER }],
    [{ older: 1 }],
    [{ newer: 0.5 }],
    [{ older: Number.NaN }],
    [{ limit: 0 }],
    [{ limit: -5 }],
    [{ limit: 10_000 }],
    [{ limit: Number.NaN }],
  ])("answers a hostile page query %j with a page, never an error", async (query) => {
    const page = await listHistoryPage(db, { userId, ...query });
    expect(page.rows.length).toBeLessThanOrEqual(100);
    expect(page.rows.every((r) => allIds.includes(r.id))).toBe(true);
  });

  it("an unknown user has an empty history and an empty chart", async () => {
    expect(await listHistoryPage(db, { userId: 999_999_999 })).toEqual({ rows: [], older: null, newer: null });
    expect((await getCreditsChart(db, 999_999_999)).every((d) => d.bought === 0 && d.spent === 0)).toBe(true);
  });

  it("sums credits bought and spent (posted only) per UTC day, from the daily totals", async () => {
    const chart = await getCreditsChart(db, userId, { now });
    expect(chart).toHaveLength(30);
    expect(chart[29]!.day).toBe(new Date(now).toISOString().slice(0, 10));
    // Bought: the purchase and the top-up (bonuses are not bought); spent: the 30 posted images.
    expect(chart[29]).toMatchObject({ bought: 540, spent: 150 });
    expect(chart.slice(0, 29).every((d) => d.bought === 0 && d.spent === 0)).toBe(true);
    expect((await getCreditsChart(db, userId, { now: now + 40 * DAY })).every((d) => d.bought === 0)).toBe(true);
    expect(await getCreditsChart(db, userId, { now, days: 1 })).toEqual([{ day: new Date(now).toISOString().slice(0, 10), bought: 540, spent: 150 }]);
  });

  it("a receipt: the user's own payments only, price from the row's meta; a hostile id is no receipt", async () => {
    expect(await getPaymentReceipt(db, { userId, transactionId: purchaseId })).toEqual({
      id: purchaseId, receiptNumber: `CS-${String(purchaseId).padStart(6, "0")}`, type: "purchase", createdAt: expect.any(Number), description: "Bought 500 credits", credits: 500, amountTotal: 500, currency: "usd", stripePaymentId: "pi_1",
    });
    expect(await getPaymentReceipt(db, { userId: otherId, transactionId: purchaseId })).toBeNull();
    const bonus = (await listHistoryPage(db, { userId, type: "bonus" })).rows[0]!;
    for (const transactionId of [bonus.id, 999_999_999, 1e20, -1, 0.5, Number.NaN]) expect(await getPaymentReceipt(db, { userId, transactionId })).toBeNull();
    const asked: string[] = [];
    const stripe = {
      paymentIntents: {
        retrieve: async (id: string) => {
          asked.push(id);
          return { id, latest_charge: { id: "ch_1", receipt_url: `https://pay.example/receipts/${id}` } };
        },
      },
    } as unknown as Stripe;
    expect(await findReceiptUrl(db, stripe, { userId, transactionId: purchaseId })).toBe("https://pay.example/receipts/pi_1");
    for (const transactionId of [bonus.id, 999_999_999, 1e20]) expect(await findReceiptUrl(db, stripe, { userId, transactionId })).toBeNull();
    expect(await findReceiptUrl(db, stripe, { userId: otherId, transactionId: purchaseId })).toBeNull();
    expect(asked).toEqual(["pi_1"]);
  });
});
