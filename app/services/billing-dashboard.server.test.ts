import type Stripe from "stripe";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDb, insertUser } from "../../tests/support/db";
import { findReceiptUrl, getCreditsChart, listHistoryPage, parseHistoryQuery } from "./billing-dashboard.server";
import { csvText } from "~/utils/csv-cells";
import { streamHistoryCsv } from "./history-csv.server";
import { clawback, grant, hold, voidHold } from "./money/ledger.server";
import { spendNow } from "../../tests/support/ledger";

let db: ReturnType<typeof createTestDb>;
let userId: number;
let otherId: number;
let purchaseId: number;
const DAY = 86_400_000;

beforeAll(async () => {
  db = createTestDb();
  userId = insertUser(db, "reader@example.com");
  otherId = insertUser(db, "other@example.com");
  await grant(db, { userId, amount: 10, type: "bonus", key: "signup:r", description: "Sign-up bonus" });
  purchaseId = (await grant(db, {
    userId,
    amount: 500,
    type: "purchase",
    key: "checkout:cs_1",
    description: "Bought 500 credits",
    stripePaymentId: "pi_1",
    meta: { amountTotal: 500, currency: "usd" },
  })).transaction.id;
  // 60 spends, one hold voided (refunded), one still pending, a partial clawback of the purchase.
  for (let i = 0; i < 60; i++) await spendNow(db, userId, 5, `Image ${i}`, `img:${i}`);
  const failed = await hold(db, { userId, cost: 50, key: "video:failed", description: "Video", ttlSeconds: 600 });
  if (!failed.ok) throw new Error("hold");
  await voidHold(db, failed.transaction.id, "provider_failed");
  const running = await hold(db, { userId, cost: 50, key: "video:running", description: "Video", ttlSeconds: 600 });
  if (!running.ok) throw new Error("hold");
  await clawback(db, { userId, amount: 100, key: "refund:ch_1:100", description: "Partial refund", stripePaymentId: "pi_1" });
  // Another user's rows must never show up.
  await grant(db, { userId: otherId, amount: 7, type: "bonus", key: "signup:o", description: "=HYPERLINK(\"http://evil\")" });
});
afterAll(() => db.remove());

describe("history pages (keyset)", () => {
  it("pages through the whole history newest first, every row once, and back again", async () => {
    const seen: number[] = [];
    let page = await listHistoryPage(db, { userId, limit: 25 });
    expect(page.newer).toBeNull();
    const pages = [page];
    while (page.older !== null) {
      page = await listHistoryPage(db, { userId, older: page.older, limit: 25 });
      pages.push(page);
    }
    for (const p of pages) seen.push(...p.rows.map((r) => r.id));
    const all = db.sqlite.prepare("select id from transactions where user_id = ? order by id desc").all(userId) as { id: number }[];
    expect(seen).toEqual(all.map((r) => r.id));
    expect(pages).toHaveLength(Math.ceil(all.length / 25));

    // Newer from the last page gives the page before it, exactly.
    const back = await listHistoryPage(db, { userId, newer: pages[pages.length - 1].newer!, limit: 25 });
    expect(back.rows.map((r) => r.id)).toEqual(pages[pages.length - 2].rows.map((r) => r.id));
    // Newer from the second page lands on the full first page.
    const top = await listHistoryPage(db, { userId, newer: pages[1].newer!, limit: 25 });
    expect(top.rows.map((r) => r.id)).toEqual(pages[0].rows.map((r) => r.id));
    expect(top.newer).toBeNull();
  });

  it("filters by type and marks pending, refunded and partly refunded rows", async () => {
    const usage = await listHistoryPage(db, { userId, type: "usage", limit: 100 });
    expect(usage.rows).toHaveLength(62);
    expect(usage.rows.every((r) => r.type === "usage")).toBe(true);
    expect(usage.rows[0]).toMatchObject({ displayStatus: "pending", amount: -50 });
    expect(usage.rows[1]).toMatchObject({ displayStatus: "refunded", amount: -50 });
    expect(usage.rows[2]).toMatchObject({ displayStatus: "posted", amount: -5 });

    const purchases = await listHistoryPage(db, { userId, type: "purchase" });
    expect(purchases.rows).toEqual([
      expect.objectContaining({ id: purchaseId, displayStatus: "partly_refunded", refundedCredits: 100, hasReceipt: true }),
    ]);
    // The customer's view carries no admin fields; the admin's does.
    expect(purchases.rows[0]).not.toHaveProperty("reason");
    expect((await listHistoryPage(db, { userId, type: "purchase", forAdmin: true })).rows[0]).toHaveProperty("reason", null);
  });

  it("reads bad query strings as no filter rather than failing", async () => {
    expect(parseHistoryQuery(new URL("http://x/?type=nope&older=abc&newer=-4"))).toEqual({});
    expect(parseHistoryQuery(new URL("http://x/?type=usage&older=12"))).toEqual({ type: "usage", older: 12 });
  });
});

describe("CSV", () => {
  async function readAll(stream: ReadableStream<Uint8Array>): Promise<{ text: string; chunks: number }> {
    const reader = stream.getReader();
    const decoder = new TextDecoder();
    let text = "";
    let chunks = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return { text, chunks };
      chunks++;
      text += decoder.decode(value, { stream: true });
    }
  }

  it("streams the whole history in batches, one line per row, numbers as numbers", async () => {
    const { text, chunks } = await readAll(streamHistoryCsv(db, userId, 10));
    const lines = text.trimEnd().split("\r\n");
    const count = (db.sqlite.prepare("select count(*) as n from transactions where user_id = ?").get(userId) as { n: number }).n;
    expect(lines[0]).toBe("id,date_utc,type,status,description,amount,balance_after,expires_at,amount_paid,currency,stripe_payment_id");
    expect(lines).toHaveLength(count + 1);
    expect(chunks).toBeGreaterThanOrEqual(Math.ceil(count / 10));
    expect(lines.some((l) => /,usage,refunded,Video,-50,/.test(l))).toBe(true);
    // The price paid, its currency and the payment id reconcile with Stripe; the refund names the payment, no price.
    expect(lines.some((l) => /,purchase,partly_refunded,Bought 500 credits,500,510,,5\.00,USD,pi_1$/.test(l))).toBe(true);
    expect(lines.some((l) => /,refund,posted,Partial refund,-100,\d+,,,,pi_1$/.test(l))).toBe(true);
  });

  it("escapes quotes and separators and defuses formulas", async () => {
    expect(csvText('say "hi", ok')).toBe('"say ""hi"", ok"');
    expect(csvText("line\nbreak")).toBe('"line\nbreak"');
    expect(csvText("=1+1")).toBe("'=1+1");
    expect(csvText("+1")).toBe("'+1");
    expect(csvText("-1")).toBe("'-1");
    expect(csvText("@SUM(A1)")).toBe("'@SUM(A1)");
    expect(csvText("\tx")).toBe("'\tx");
    expect(csvText("plain")).toBe("plain");
    const { text } = await readAll(streamHistoryCsv(db, otherId));
    expect(text).toContain(`"'=HYPERLINK(""http://evil"")"`);
  });
});

describe("chart", () => {
  it("sums credits bought and spent (posted only) per UTC day for 30 days", async () => {
    const chart = await getCreditsChart(db, userId);
    expect(chart).toHaveLength(30);
    const today = chart[29];
    expect(today.day).toBe(new Date().toISOString().slice(0, 10));
    expect(today).toMatchObject({ bought: 500, spent: 300 });
    expect(chart.slice(0, 29).every((d) => d.bought === 0 && d.spent === 0)).toBe(true);
    // Rows older than the window are left out.
    expect((await getCreditsChart(db, userId, { now: Date.now() + 40 * DAY })).every((d) => d.bought === 0)).toBe(true);
  });
});

describe("receipts", () => {
  const stripe = {
    paymentIntents: {
      retrieve: async (id: string, params: { expand: string[] }) => {
        expect(params.expand).toEqual(["latest_charge"]);
        return { id, latest_charge: { id: "ch_1", receipt_url: `https://pay.example/receipts/${id}` } };
      },
    },
  } as unknown as Stripe;

  it("finds the receipt of the user's own purchase only", async () => {
    expect(await findReceiptUrl(db, stripe, { userId, transactionId: purchaseId })).toBe("https://pay.example/receipts/pi_1");
    expect(await findReceiptUrl(db, stripe, { userId: otherId, transactionId: purchaseId })).toBeNull();
    const bonus = (await listHistoryPage(db, { userId, type: "bonus" })).rows[0];
    expect(await findReceiptUrl(db, stripe, { userId, transactionId: bonus.id })).toBeNull();
    expect(await findReceiptUrl(db, stripe, { userId, transactionId: 999_999 })).toBeNull();
  });
});

describe("grant expiries in the history", () => {
  it("shows when each grant expires, whether it has, and writes it in the CSV", async () => {
    const id = insertUser(db, "expiring@example.com");
    const now = Date.now();
    const soon = (await grant(db, { userId: id, amount: 5, type: "bonus", key: "exp:soon", description: "Promo", expiresAt: now + 86_400_000, now })).transaction.id;
    const past = (await grant(db, { userId: id, amount: 3, type: "bonus", key: "exp:past", description: "Old promo", expiresAt: now - 1000, now: now - 2000 })).transaction.id;
    const never = (await grant(db, { userId: id, amount: 2, type: "purchase", key: "exp:never", description: "Bought" })).transaction.id;
    const rows = new Map((await listHistoryPage(db, { userId: id })).rows.map((r) => [r.id, r]));
    expect(rows.get(soon)).toMatchObject({ expiresAt: now + 86_400_000, expired: false });
    expect(rows.get(past)).toMatchObject({ expiresAt: now - 1000, expired: true });
    expect(rows.get(never)).toMatchObject({ expiresAt: null, expired: false });
    const reader = streamHistoryCsv(db, id).getReader();
    let text = "";
    for (let r = await reader.read(); !r.done; r = await reader.read()) text += new TextDecoder().decode(r.value);
    expect(text).toContain(`,Promo,5,5,${new Date(now + 86_400_000).toISOString()}`);
    // A purchase with no price in its meta leaves the money columns empty rather than inventing one.
    expect(text).toMatch(/,Bought,2,10,,,,\r\n/);
  });
});
