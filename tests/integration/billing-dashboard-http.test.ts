import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeDatabase, openDatabase, type AppDb } from "../../db/client.server";
import { grant } from "../../app/services/money/ledger.server";
import { freePort, HttpClient, startServer, type RunningServer } from "../support/server";
import { spendNow } from "../support/ledger";
import { postJson } from "./generation-support";

// /settings/billing over HTTP against the built app: the history's query string, the streamed CSV
// (headers, every row, long histories) and the receipt redirect (owner only).

let server: RunningServer;
let db: AppDb;
let emulatorUrl: string;
let counter = 0;

beforeAll(async () => {
  const emulatorPort = await freePort();
  server = await startServer({ STRIPE_EMULATOR_PORT: String(emulatorPort) });
  emulatorUrl = `http://127.0.0.1:${emulatorPort}`;
  db = openDatabase(path.join(server.dataDir, "app.sqlite"));
});
afterAll(async () => {
  if (db) closeDatabase(db);
  await server?.stop();
});

async function newCustomer() {
  const client = new HttpClient(server.url);
  const email = `reader${++counter}@example.com`;
  await client.signup(email);
  const { id } = db.sqlite.prepare("select id from users where email = ?").get(email) as { id: number };
  return { client, id };
}

describe("history page", () => {
  it("answers 200 for any query string, bad cursors and types included", async () => {
    const { client } = await newCustomer();
    // Bad values are ignored (the newest page); a cursor past the end is an empty page.
    for (const q of ["", "?type=nope", "?older=abc", "?newer=-1", "?older=99999999999999999999"]) {
      const res = await client.get(`/settings/billing${q}`);
      expect(res.status, q).toBe(200);
      expect(await res.text(), q).toContain("Sign-up bonus");
    }
    for (const q of ["?type=usage", "?older=1", "?older=1&newer=2"]) {
      const res = await client.get(`/settings/billing${q}`);
      expect(res.status, q).toBe(200);
      expect(await res.text(), q).toContain("No transactions");
    }
  });

  it("says when the next credits expire, and when each grant expires", async () => {
    const { client, id } = await newCustomer();
    const { e } = db.sqlite.prepare("select expires_at as e from credit_grants where user_id = ?").get(id) as { e: number };
    const day = new Date(e).toISOString().slice(0, 10);
    const html = await (await client.get("/settings/billing")).text();
    expect(html).toContain(`10<!-- --> credits expire on <!-- -->${day}`);
    expect(html).toContain(`expires ${day}`);
  });

  it("sends an anonymous visitor to log in, and never shows another user's rows", async () => {
    const anon = await new HttpClient(server.url).get("/settings/billing/history.csv");
    expect(anon.status).toBe(303);
    expect(anon.headers.get("location")).toBe("/login?redirectTo=%2Fsettings%2Fbilling%2Fhistory.csv");
    const a = await newCustomer();
    const b = await newCustomer();
    await grant(db, { userId: a.id, amount: 77, type: "bonus", key: `secret:${a.id}`, description: "Only for A" });
    expect(await (await b.client.get("/settings/billing")).text()).not.toContain("Only for A");
    expect(await (await b.client.get("/settings/billing/history.csv")).text()).not.toContain("Only for A");
  });
});

describe("CSV export", () => {
  it("streams a long history (3,000 rows) with download headers, one line per row", async () => {
    const { client, id } = await newCustomer();
    await grant(db, { userId: id, amount: 20_000, type: "bonus", key: `csv-topup:${id}`, description: "Top-up, with a comma" });
    // One transaction for the whole set-up, as before (3,000 commits would each wait for fsync).
    await db.sql.write(async (tx) => {
      for (let i = 0; i < 3000; i++) await spendNow(tx, id, 5, i % 2 ? `Image ${i}` : `=cmd|' /C calc'!A0 ${i}`, `csv:${id}:${i}`);
    });
    const res = await client.get("/settings/billing/history.csv");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/csv; charset=utf-8");
    expect(res.headers.get("content-disposition")).toMatch(/^attachment; filename="credits-history-\d{4}-\d{2}-\d{2}\.csv"$/);
    expect(res.headers.get("cache-control")).toContain("no-store");
    // Streamed: no length known up front.
    expect(res.headers.get("content-length")).toBeNull();
    const lines = (await res.text()).trimEnd().split("\r\n");
    expect(lines).toHaveLength(1 + 3002);
    expect(lines[0]).toBe("id,date_utc,type,status,description,amount,balance_after,expires_at,amount_paid,currency,stripe_payment_id");
    expect(lines[1]).toMatch(/^\d+,\d{4}-\d\d-\d\dT[\d:.]+Z,usage,posted,Image 2999,-5,5010,,,,$/);
    expect(lines[2]).toMatch(/,usage,posted,'=cmd\|' \/C calc'!A0 2998,-5,5015,,,,$/);
    expect(lines[3001]).toMatch(/,bonus,posted,"Top-up, with a comma",20000,20010,,,,$/);
    // The sign-up bonus expires (SIGNUP_BONUS_EXPIRES_AFTER, 30 days by default): the CSV says when.
    expect(lines[3002]).toMatch(/,bonus,posted,Sign-up bonus,10,10,\d{4}-\d\d-\d\dT[\d:.]+Z,,,$/);
    const ids = lines.slice(1).map((l) => Number(l.split(",")[0]));
    expect(new Set(ids).size).toBe(3002);
    expect([...ids].sort((x, y) => y - x)).toEqual(ids);
  });
});

describe("receipts", () => {
  it("redirects the owner of a purchase to its Stripe receipt; anyone else gets 404", async () => {
    const { client, id } = await newCustomer();
    const res = await client.post("/api/stripe/checkout", { pack: "default" }, { headers: { Accept: "application/json" } });
    const session = (await res.json()) as { id: string };
    await fetch(`${emulatorUrl}/__emulator/checkout/sessions/${session.id}/pay`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ outcome: "paid" }),
    });
    await client.get(`/settings/billing/success?session_id=${session.id}`);
    const purchase = db.sqlite.prepare("select id from transactions where user_id = ? and type = 'purchase'").get(id) as { id: number };

    const receipt = await client.get(`/settings/billing/receipt/${purchase.id}`);
    expect(receipt.status).toBe(303);
    const location = receipt.headers.get("location")!;
    expect(location).toMatch(/\/receipts\/ch_/);
    const page = await fetch(location);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("$5.00");
    expect(await (await client.get("/settings/billing")).text()).toContain(`/settings/billing/receipt/${purchase.id}`);

    const bonus = db.sqlite.prepare("select id from transactions where user_id = ? and type = 'bonus'").get(id) as { id: number };
    const stranger = await newCustomer();
    expect((await stranger.client.get(`/settings/billing/receipt/${purchase.id}`)).status).toBe(404);
    expect((await client.get(`/settings/billing/receipt/${bonus.id}`)).status).toBe(404);
    expect((await client.get("/settings/billing/receipt/abc")).status).toBe(404);
    expect((await client.get("/settings/billing/receipt/999999")).status).toBe(404);
  });

  it("shows the owner the app's own receipt of each payment (pack, plan period); anyone else, any other row or id gets 404", async () => {
    const { client, id } = await newCustomer();
    const res = await client.post("/api/stripe/checkout", { pack: "default" }, { headers: { Accept: "application/json" } });
    const session = (await res.json()) as { id: string };
    await fetch(`${emulatorUrl}/__emulator/checkout/sessions/${session.id}/pay`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ outcome: "paid" }),
    });
    await client.get(`/settings/billing/success?session_id=${session.id}`);
    const purchase = db.sqlite
      .prepare("select id, stripe_payment_id as pi from transactions where user_id = ? and type = 'purchase'")
      .get(id) as { id: number; pi: string };
    expect(purchase.pi).toMatch(/^pi_/);

    const page = await client.get(`/settings/billing/payments/${purchase.id}`);
    expect(page.status).toBe(200);
    expect(page.headers.get("cache-control")).toContain("no-store");
    const html = await page.text();
    expect(html).toContain("Credits Studio");
    expect(html).toContain("$5.00");
    expect(html).toContain(`CS-${String(purchase.id).padStart(6, "0")}`);
    expect(html).toContain(purchase.pi);
    expect(html).toContain("@media print");
    // The Stripe receipt opens in a new tab, from the receipt page and from the history alike.
    expect(html).toMatch(new RegExp(`href="/settings/billing/receipt/${purchase.id}" target="_blank" rel="noopener noreferrer"`));
    const billing = await (await client.get("/settings/billing")).text();
    expect(billing).toContain(`href="/settings/billing/payments/${purchase.id}"`);
    expect(billing).toMatch(new RegExp(`href="/settings/billing/receipt/${purchase.id}" target="_blank" rel="noopener noreferrer"`));

    // A plan period is a payment too (its invoice's); a rollover grant, with no payment id, is not.
    const plan = (await grant(db, {
      userId: id, amount: 300, type: "plan", key: `receipt-plan:${id}`, description: "Pro plan: 300 credits for the period",
      stripePaymentId: `pi_plan_${id}`, expiresAt: Date.now() + 86_400_000, meta: { amountTotal: 1900, currency: "eur" },
    })).transaction;
    const rollover = (await grant(db, {
      userId: id, amount: 5, type: "plan", key: `receipt-rollover:${id}`, description: "rolled over", expiresAt: Date.now() + 86_400_000,
    })).transaction;
    const planHtml = await (await client.get(`/settings/billing/payments/${plan.id}`)).text();
    expect(planHtml).toContain("€19.00");
    expect(planHtml).toContain(`pi_plan_${id}`);
    expect((await client.get(`/settings/billing/payments/${rollover.id}`)).status).toBe(404);

    // The CSV reconciles: each payment's price, currency and payment id; a refund names the payment it takes from.
    await grant(db, {
      userId: id, amount: 1, type: "bonus", key: `csv-hostile-meta:${id}`, description: "bonus with a price-like meta",
      meta: { amountTotal: 999, currency: "=cmd" },
    });
    const csv = (await (await client.get("/settings/billing/history.csv")).text()).trimEnd().split("\r\n");
    expect(csv[0]).toBe("id,date_utc,type,status,description,amount,balance_after,expires_at,amount_paid,currency,stripe_payment_id");
    expect(csv.find((l) => l.startsWith(`${purchase.id},`))).toMatch(new RegExp(`,purchase,posted,[^,]+,500,\\d+,[^,]*,5\\.00,USD,${purchase.pi}$`));
    expect(csv.find((l) => l.startsWith(`${plan.id},`))).toMatch(new RegExp(`,plan,posted,.*,300,\\d+,[^,]+,19\\.00,EUR,pi_plan_${id}$`));
    // Only payments carry a price: a bonus's meta is not read as one.
    expect(csv.find((l) => l.includes("bonus with a price-like meta"))).toMatch(/,bonus,posted,bonus with a price-like meta,1,\d+,,,,$/);

    const bonus = db.sqlite.prepare("select id from transactions where user_id = ? and type = 'bonus'").get(id) as { id: number };
    const stranger = await newCustomer();
    expect((await stranger.client.get(`/settings/billing/payments/${purchase.id}`)).status).toBe(404);
    expect((await stranger.client.get(`/settings/billing/payments/${plan.id}`)).status).toBe(404);
    const anon = await new HttpClient(server.url).get(`/settings/billing/payments/${purchase.id}`);
    expect(anon.status).toBe(303);
    for (const bad of [String(bonus.id), "abc", "0", "-1", "1e3", `0${purchase.id}`, "99999999999999999999", "999999", "1.5", "%20"]) {
      expect((await client.get(`/settings/billing/payments/${bad}`)).status, bad).toBe(404);
    }
  });
});

describe("usage rows", () => {
  it("show the generation's prompt, shortened and escaped, and link its result for the owner only; a deleted result loses the link", async () => {
    const { client, id } = await newCustomer();
    const prompt = `<script>alert(1)</script> a lighthouse on a cliff at dusk, waves breaking below, gulls, ${"very ".repeat(30)}detailed`;
    const res = await postJson(client, "/api/generate-image", { prompt, size: "256x256" });
    expect(res.status).toBeLessThan(300);
    let gen: { id: string; status: string } | undefined;
    for (let i = 0; i < 100; i++) {
      gen = db.sqlite.prepare("select id, status from generations where user_id = ?").get(id) as typeof gen;
      if (gen?.status === "succeeded") break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(gen?.status).toBe("succeeded");
    const html = await (await client.get("/settings/billing")).text();
    expect(html).toContain("&lt;script&gt;alert(1)&lt;/script&gt; a lighthouse on a cliff");
    expect(html).not.toContain("<script>alert(1)");
    expect(html).not.toContain("very detailed"); // cut before the end
    expect(html).toContain("…");
    expect(html).toMatch(new RegExp(`href="/generations/${gen!.id}/file" target="_blank" rel="noopener noreferrer"`));
    expect((await client.get(`/generations/${gen!.id}/file`)).status).toBe(200);
    const stranger = await newCustomer();
    expect((await stranger.client.get(`/generations/${gen!.id}/file`)).status).toBe(404);
    expect(await (await stranger.client.get("/settings/billing")).text()).not.toContain(gen!.id);

    // The result is gone (as deletion leaves it): the prompt stays, the link does not.
    db.sqlite.prepare("update generations set result_path = null where id = ?").run(gen!.id);
    const after = await (await client.get("/settings/billing")).text();
    expect(after).toContain("a lighthouse on a cliff");
    expect(after).not.toContain(`/generations/${gen!.id}/file`);
    // The whole generation row is gone: the usage row keeps its description, nothing more.
    db.sqlite.prepare("delete from generations where id = ?").run(gen!.id);
    const gone = await (await client.get("/settings/billing")).text();
    expect(gone).not.toContain("a lighthouse on a cliff");
    expect(gone).toContain("Image generation");
  });
});

describe("credit packs", () => {
  it("say what each pack buys, as /pricing does, and its price per credit", async () => {
    const { client } = await newCustomer();
    const billing = await (await client.get("/settings/billing")).text();
    const pricing = await (await client.get("/pricing")).text();
    const buys = [...pricing.matchAll(/≈ (?:<!-- -->)?[\d,]+(?:<!-- -->)? images or [^<]*(?:<!-- -->[^<]*)*<\/p>/g)].map((m) => m[0]);
    expect(buys.length).toBeGreaterThan(0);
    for (const sentence of buys) expect(billing).toContain(sentence);
    // The default pack: 500 credits for $5.00.
    expect(billing).toMatch(/500<!-- --> credits · <!-- -->\$5\.00<span data-testid="pack-per-credit"> · <!-- -->\$0\.01 per credit<\/span>/);
  });
});

describe("the 30-day chart", () => {
  it("says 'no activity yet' to a new user instead of an empty grid; once used, its axis is whole credits and its table only active days", async () => {
    const { client, id } = await newCustomer();
    const empty = await (await client.get("/settings/billing")).text();
    expect(empty).toContain("No activity in these <!-- -->30<!-- --> days yet.");
    expect(empty).not.toContain('data-testid="credits-chart"');
    await spendNow(db, id, 5, "Image", `chart:${id}`);
    const used = await (await client.get("/settings/billing")).text();
    expect(used).not.toContain("No activity in these");
    const ticks = [...used.matchAll(/data-testid="chart-tick">([^<]+)</g)].map((m) => m[1]);
    expect(ticks.length).toBeGreaterThan(2);
    for (const t of ticks) expect(t).toMatch(/^\d[\d,]*$/);
    // A sign-up bonus is not "bought": one day, today's spend, is the only active one.
    expect(used.match(/data-testid="credits-chart-day"/g)).toHaveLength(1);
    expect(used).toContain("The 1 of 30 days with activity");
  });
});
