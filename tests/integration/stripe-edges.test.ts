import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Stripe from "stripe";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { STRIPE_API_VERSION } from "../../app/services/stripe.server";
import type { SqlDb } from "../../db/sql.server";
import { startStripeEmulator, type StripeEmulator } from "../../stripe-emulator/src/index.server";
import { verifyServerLedger } from "../support/server-ledger";
import { HttpClient, startServer, type RunningServer } from "../support/server";
import { openServerSql } from "../support/server-sql";

// The money edges of the Stripe flow, with the webhook deliveries in the test's hands: the app
// talks to an emulator that only records events (no webhook URL), and the test delivers them,
// signed, in the order each case needs (late, twice, reordered, about another product's payment).

const SECRET = "whsec_edgestestsecret0123456789";
let emulator: StripeEmulator;
let stripe: Stripe;
let server: RunningServer;
let db: SqlDb;
const emulatorDir = fs.mkdtempSync(path.join(os.tmpdir(), "edges-emulator-"));

function appEnv(extra: Record<string, string> = {}) {
  return {
    STRIPE_EMULATOR: "off",
    STRIPE_SECRET_KEY: "sk_test_edges",
    STRIPE_WEBHOOK_SECRET: SECRET,
    STRIPE_API_BASE: emulator.url,
    STRIPE_PRICE_ID_CREDITS_PACK: "price_credits_pack",
    CREDITS_PER_PACK: "500",
    ...extra,
  };
}

beforeAll(async () => {
  emulator = await startStripeEmulator({
    dbPath: path.join(emulatorDir, "emulator.sqlite"),
    webhookUrl: null,
    webhookSecret: SECRET,
    prices: [{ id: "price_credits_pack", unitAmount: 500, currency: "usd", productName: "500 credits" }],
    asyncPaymentDelayMs: 60_000,
  });
  stripe = new Stripe("sk_test_edges", { apiVersion: STRIPE_API_VERSION, host: emulator.host, port: emulator.port, protocol: "http" });
  server = await startServer(appEnv());
  db = openServerSql(server);
});
afterAll(async () => {
  await db?.close();
  await server?.stop();
  await emulator?.close();
});

let n = 0;
async function customer(s: RunningServer = server) {
  const client = new HttpClient(s.url);
  await client.signup(`edge${++n}-${Date.now()}@example.com`);
  return client;
}
const balanceOf = async (client: HttpClient) => ((await (await client.get("/api/credits")).json()) as { balance: number }).balance;

async function driver(pathname: string, body: unknown = {}) {
  const res = await fetch(`${emulator.url}/__emulator${pathname}`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${pathname}: ${res.status} ${await res.text()}`);
  return res.json() as Promise<Record<string, unknown>>;
}

/** Every recorded event about an object, oldest first. */
async function eventsAbout(objectId: string): Promise<Stripe.Event[]> {
  const res = await fetch(`${emulator.url}/__emulator/events?limit=100`);
  const { data } = (await res.json()) as { data: Array<{ event: Stripe.Event }> };
  return data.map((d) => d.event).filter((e) => (e.data.object as { id: string }).id === objectId).reverse();
}

async function deliver(event: Stripe.Event, s: RunningServer = server) {
  const payload = JSON.stringify(event);
  const res = await fetch(`${s.url}/api/stripe/webhook`, {
    method: "POST",
    headers: { "Content-Type": "application/json", "Stripe-Signature": stripe.webhooks.generateTestHeaderString({ payload, secret: SECRET }) },
    body: payload,
  });
  return { status: res.status, body: (await res.json()) as { outcome?: string; error?: string } };
}

async function deliverAll(events: Stripe.Event[], s: RunningServer = server) {
  const results = [];
  for (const e of events) results.push(await deliver(e, s));
  return results;
}

async function startCheckout(client: HttpClient): Promise<string> {
  const res = await client.post("/api/stripe/checkout", { pack: "default" }, { headers: { Accept: "application/json" } });
  expect(res.status).toBe(200);
  return ((await res.json()) as { id: string }).id;
}

/** Buys the default pack and delivers its events: 10 + 500 credits. */
async function buy(client: HttpClient) {
  const sessionId = await startCheckout(client);
  await driver(`/checkout/sessions/${sessionId}/pay`, { outcome: "paid" });
  await deliverAll(await eventsAbout(sessionId));
  expect(await balanceOf(client)).toBe(510);
  const session = await stripe.checkout.sessions.retrieve(sessionId, { expand: ["payment_intent"] });
  const intent = session.payment_intent as Stripe.PaymentIntent;
  return { sessionId, paymentIntentId: intent.id, chargeId: intent.latest_charge as string };
}

function flagOf(client: HttpClient) {
  return client.post("/api/stripe/checkout", { pack: "default" }, { headers: { Accept: "application/json" } }).then((r) => r.status);
}

async function ledgerClean() {
  return (await verifyServerLedger(server, { sweepGraceMs: 60_000 })).violations;
}

function rowsFor(paymentIntentId: string) {
  return db.all<{ type: string; amount: number; key: string }>(
    `select type, amount, idempotency_key as "key" from transactions where stripe_payment_id = ? order by id`,
    [paymentIntentId],
  );
}

describe("the dispute lifecycle", () => {
  it("an inquiry takes nothing and holds nothing, before and after it closes", async () => {
    const client = await customer();
    const { chargeId, paymentIntentId } = await buy(client);
    const dispute = await driver(`/charges/${chargeId}/disputes`, { inquiry: true, reason: "general" });
    await deliverAll(await eventsAbout(String(dispute.id)));
    expect(await balanceOf(client)).toBe(510);
    expect(await flagOf(client)).toBe(200);
    await driver(`/disputes/${String(dispute.id)}/close`, {});
    const results = await deliverAll(await eventsAbout(String(dispute.id)));
    expect(results.every((r) => r.status === 200)).toBe(true);
    expect(await balanceOf(client)).toBe(510);
    expect((await rowsFor(paymentIntentId)).map((r) => r.type)).toEqual(["purchase"]);
  });

  it("funds withdrawn hold back the credits and the account; won gives them back once and lifts the hold", async () => {
    const client = await customer();
    const { chargeId, paymentIntentId } = await buy(client);
    const dispute = await driver(`/charges/${chargeId}/disputes`, { reason: "fraudulent" });
    const opened = await eventsAbout(String(dispute.id));
    expect(opened.map((e) => e.type)).toEqual(["charge.dispute.created", "charge.dispute.funds_withdrawn"]);
    await deliverAll(opened);
    expect(await balanceOf(client)).toBe(10);
    expect(await flagOf(client)).toBe(403);

    await driver(`/disputes/${String(dispute.id)}/close`, { status: "won" });
    const all = await eventsAbout(String(dispute.id));
    // Every event again, twice, and in reverse: the same end state, and 200 for each.
    const results = await deliverAll([...all, ...all.slice().reverse()]);
    expect(results.map((r) => r.status)).toEqual(results.map(() => 200));
    expect(await balanceOf(client)).toBe(510);
    expect(await flagOf(client)).toBe(200);
    expect(await rowsFor(paymentIntentId)).toEqual([
      { type: "purchase", amount: 500, key: expect.stringMatching(/^checkout:/) },
      { type: "refund", amount: -500, key: `dispute:${String(dispute.id)}` },
      { type: "refund", amount: 500, key: `dispute-won:${String(dispute.id)}` },
    ]);
    expect(await ledgerClean()).toEqual([]);
  });

  it("won before the withdrawal was seen: taken and given back, ending where it started", async () => {
    const client = await customer();
    const { chargeId } = await buy(client);
    const dispute = await driver(`/charges/${chargeId}/disputes`, { reason: "duplicate" });
    await driver(`/disputes/${String(dispute.id)}/close`, { status: "won" });
    const events = (await eventsAbout(String(dispute.id))).reverse(); // funds_reinstated first
    await deliverAll(events);
    expect(await balanceOf(client)).toBe(510);
    expect(await flagOf(client)).toBe(200);
  });

  it("lost keeps the credits taken and the account on hold", async () => {
    const client = await customer();
    const { chargeId } = await buy(client);
    const dispute = await driver(`/charges/${chargeId}/disputes`, { reason: "fraudulent" });
    await driver(`/disputes/${String(dispute.id)}/close`, { status: "lost" });
    await deliverAll(await eventsAbout(String(dispute.id)));
    expect(await balanceOf(client)).toBe(10);
    expect(await flagOf(client)).toBe(403);
  });

  it("a redelivered dispute event, or a new event about the same dispute, is a replay answered 200", async () => {
    const client = await customer();
    const { chargeId } = await buy(client);
    await stripe.refunds.create({ payment_intent: (await stripe.charges.retrieve(chargeId)).payment_intent as string, amount: 100 });
    await deliverAll(await eventsAbout(chargeId));
    expect(await balanceOf(client)).toBe(410);
    const dispute = await driver(`/charges/${chargeId}/disputes`, { amount: 400 });
    const [created] = await eventsAbout(String(dispute.id));
    expect((await deliver(created)).status).toBe(200);
    expect(await balanceOf(client)).toBe(10);
    // The same event again, then the same dispute under new event ids (what used to answer 500).
    expect((await deliver(created)).body).toMatchObject({ outcome: "duplicate" });
    for (const id of ["evt_again_1", "evt_again_2"]) {
      const res = await deliver({ ...created, id });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ outcome: "processed" });
    }
    expect(await balanceOf(client)).toBe(10);
    expect(await ledgerClean()).toEqual([]);
  });
});

describe("payments this app never sold", () => {
  it("refunds and disputes of another product's payment are acknowledged with 200 and recorded as ignored", async () => {
    const other = (await driver("/unrelated-payments", { amount: 2500, email: "someone@else.example" })) as {
      charge: { id: string };
      payment_intent: { id: string };
    };
    const before = await db.get("select count(*) n, (select sum(credits) from users) c from transactions");
    await stripe.refunds.create({ payment_intent: other.payment_intent.id, amount: 1000 });
    const dispute = await driver(`/charges/${other.charge.id}/disputes`, { reason: "fraudulent" });
    const events = [...(await eventsAbout(other.charge.id)), ...(await eventsAbout(String(dispute.id)))];
    expect(events.length).toBeGreaterThanOrEqual(3);
    for (const event of events) {
      const res = await deliver(event);
      expect(res.status, event.type).toBe(200);
      if (event.type === "charge.refunded" || event.type.startsWith("charge.dispute.")) expect(res.body, event.type).toMatchObject({ outcome: "ignored" });
    }
    const recorded = await db.get("select outcome, processed_at from stripe_events where id = ?", [events.find((e) => e.type === "charge.refunded")!.id]);
    expect(recorded).toMatchObject({ outcome: "ignored", processed_at: expect.any(Number) });
    expect(await db.get("select count(*) n, (select sum(credits) from users) c from transactions")).toEqual(before);
  });
});

describe("fulfilment edge cases", () => {
  it("a refund that arrives before its purchase's own events fulfils the purchase first, then takes back", async () => {
    const client = await customer();
    const sessionId = await startCheckout(client);
    await driver(`/checkout/sessions/${sessionId}/pay`, { outcome: "paid" });
    const session = await stripe.checkout.sessions.retrieve(sessionId);
    await stripe.refunds.create({ payment_intent: session.payment_intent as string, amount: 250 });
    const charge = (await stripe.paymentIntents.retrieve(session.payment_intent as string)).latest_charge as string;
    const [refunded] = (await eventsAbout(charge)).filter((e) => e.type === "charge.refunded");
    expect((await deliver(refunded)).status).toBe(200);
    expect(await balanceOf(client)).toBe(10 + 500 - 250);
    // The purchase's own events arrive late and grant nothing more.
    await deliverAll(await eventsAbout(sessionId));
    expect(await balanceOf(client)).toBe(260);
    expect(await ledgerClean()).toEqual([]);
  });

  it("a 100%-discount session (no_payment_required) is fulfilled", async () => {
    const client = await customer();
    const sessionId = await startCheckout(client);
    await driver(`/checkout/sessions/${sessionId}/pay`, { outcome: "no_payment_required" });
    const [completed] = await eventsAbout(sessionId);
    expect((completed.data.object as Stripe.Checkout.Session).payment_status).toBe("no_payment_required");
    expect((await deliver(completed)).status).toBe(200);
    expect(await balanceOf(client)).toBe(510);
    const page = await client.get(`/settings/billing/success?session_id=${sessionId}`);
    expect(page.status).toBe(303);
    expect(await balanceOf(client)).toBe(510);
  });

  it("grants the credits recorded at checkout, even when the pack's size changed before payment", async () => {
    const client = await customer();
    const sessionId = await startCheckout(client);
    // The operator changes CREDITS_PER_PACK and restarts while the buyer is on Stripe's page.
    await server.stop();
    await db.close();
    server = await startServer(appEnv({ CREDITS_PER_PACK: "700" }), { dataDir: server.dataDir });
    db = openServerSql(server);
    const again = new HttpClient(server.url);
    again.cookies = client.cookies;
    await driver(`/checkout/sessions/${sessionId}/pay`, { outcome: "paid" });
    const events = await eventsAbout(sessionId);
    const results = await deliverAll([...events, ...events]);
    expect(results.every((r) => r.status === 200)).toBe(true);
    expect(await balanceOf(again)).toBe(510);
    expect((await again.get(`/settings/billing/success?session_id=${sessionId}`)).status).toBe(303);
    expect(await balanceOf(again)).toBe(510);
  });

  it("refuses to start with two packs on one price id", async () => {
    const bad = startServer(appEnv({ CREDIT_PACKS: '[{"id":"big","priceId":"price_credits_pack","credits":900}]' }));
    await expect(bad).rejects.toThrow(/must not repeat a price id/);
  });
});

describe("payments that fail or wait are shown", () => {
  it("a delayed payment shows as processing, then as failed with nothing charged", async () => {
    const client = await customer();
    const sessionId = await startCheckout(client);
    await driver(`/checkout/sessions/${sessionId}/pay`, { outcome: "delayed_failure" });
    await deliverAll(await eventsAbout(sessionId));
    let page = await (await client.get("/settings/billing")).text();
    expect(page).toContain("Payment processing.");
    await driver("/async-payments/settle");
    const fate = (await eventsAbout(sessionId)).filter((e) => e.type === "checkout.session.async_payment_failed");
    expect(fate).toHaveLength(1);
    expect((await deliver(fate[0])).status).toBe(200);
    page = await (await client.get("/settings/billing")).text();
    expect(page).toContain("Payment failed: nothing was charged.");
    expect(page).not.toContain("Payment processing.");
    expect(await balanceOf(client)).toBe(10);
  });

  it("an expired checkout is recorded and not shown as a failure", async () => {
    const client = await customer();
    const sessionId = await startCheckout(client);
    await driver(`/checkout/sessions/${sessionId}/expire`);
    await deliverAll(await eventsAbout(sessionId));
    expect(await db.get("select status from checkout_attempts where session_id = ?", [sessionId])).toEqual({ status: "expired" });
    const page = await (await client.get("/settings/billing")).text();
    expect(page).not.toContain("Payment failed");
  });
});
