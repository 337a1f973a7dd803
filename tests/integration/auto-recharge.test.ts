import fs from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import Stripe from "stripe";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { STRIPE_API_VERSION } from "../../app/services/stripe.server";
import { startStripeEmulator, type StripeEmulator } from "../../stripe-emulator/src/index.server";
import { verifyServerLedger } from "../support/server-ledger";
import { HttpClient, startServer, type RunningServer } from "../support/server";
import { withServerSql } from "../support/server-sql";

// Auto-recharge (decision 027) against the built app and the emulator, with real signed webhooks.
// The emulator delivers to a relay that only records, so each test delivers the events itself:
// twice, late, reordered, after a restart.

const SECRET = "whsec_rechargetestsecret0123456789";
const CARD_OK = "4242424242424242";
const CARD_3DS = "4000002760003184";
const CARD_DECLINE = "4000000000000341";
let emulator: StripeEmulator;
let stripe: Stripe;
let server: RunningServer;
let relay: Server;
const emulatorDir = fs.mkdtempSync(path.join(os.tmpdir(), "recharge-emulator-"));
const ENV = {
  STRIPE_EMULATOR: "off",
  STRIPE_SECRET_KEY: "sk_test_recharge",
  STRIPE_WEBHOOK_SECRET: SECRET,
  STRIPE_PRICE_ID_CREDITS_PACK: "price_credits_pack",
  CREDITS_PER_PACK: "500",
  SIGNUP_BONUS_CREDITS: "0",
  IMAGE_COST: "5",
  // The reconciler looks every second (it settles only attempts older than its own thresholds).
  AUTO_RECHARGE_RECONCILE_INTERVAL: "1s",
  ADMIN_EMAILS: "recharge-admin@example.com",
};

beforeAll(async () => {
  relay = createServer((req, res) => {
    req.resume();
    req.on("end", () => res.writeHead(200).end("{}"));
  });
  await new Promise<void>((r) => relay.listen(0, "127.0.0.1", () => r()));
  emulator = await startStripeEmulator({
    dbPath: path.join(emulatorDir, "emulator.sqlite"),
    webhookUrl: `http://127.0.0.1:${(relay.address() as AddressInfo).port}/hook`,
    webhookSecret: SECRET,
    prices: [{ id: "price_credits_pack", unitAmount: 500, currency: "usd", productName: "500 credits" }],
  });
  stripe = new Stripe("sk_test_recharge", { apiVersion: STRIPE_API_VERSION, host: emulator.host, port: emulator.port, protocol: "http" });
  server = await startServer({ ...ENV, STRIPE_API_BASE: emulator.url });
}, 60_000);

afterAll(async () => {
  await server?.stop();
  await emulator?.close();
  await new Promise<void>((r) => (relay ? relay.close(() => r()) : r()));
});

// ---------------------------------------------------------------------------------------------
// Helpers

/** Rows of the server's database (either engine; after a restart, the same database). */
function q<T>(text: string, ...args: unknown[]): Promise<T[]> {
  return withServerSql(server, (sql) => sql.all<T>(text, args));
}

let n = 0;
async function customer() {
  const client = new HttpClient(server.url);
  const email = `recharge${++n}-${Date.now()}@example.com`;
  await client.signup(email);
  const [{ id }] = await q<{ id: number }>("select id from users where email = ?", email);
  return { client, userId: id, email };
}

function api(client: HttpClient, method: string, pathname: string, body?: unknown, contentType = "application/json") {
  return client.request(pathname, {
    method,
    headers: { "Content-Type": contentType, Accept: "application/json", Origin: server.url },
    ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
  });
}
const balanceOf = async (client: HttpClient) => ((await (await client.get("/api/credits")).json()) as { balance: number }).balance;

async function driver(pathname: string, body: unknown = {}) {
  const res = await fetch(`${emulator.url}/__emulator${pathname}`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`${pathname}: ${res.status} ${await res.text()}`);
  return res.json() as Promise<Record<string, unknown>>;
}

const seen = new Set<string>();
async function newEvents(): Promise<Stripe.Event[]> {
  const res = await fetch(`${emulator.url}/__emulator/events?limit=100`);
  const { data } = (await res.json()) as { data: Array<{ event: Stripe.Event }> };
  const fresh = data.map((d) => d.event).filter((e) => !seen.has(e.id)).reverse();
  for (const e of fresh) seen.add(e.id);
  return fresh;
}

async function deliver(event: Stripe.Event) {
  const payload = JSON.stringify(event);
  const res = await fetch(`${server.url}/api/stripe/webhook`, {
    method: "POST",
    headers: { "Content-Type": "application/json", "Stripe-Signature": stripe.webhooks.generateTestHeaderString({ payload, secret: SECRET }) },
    body: payload,
  });
  const body = (await res.json()) as { outcome?: string };
  expect(res.status, `${event.type} ${event.id}: ${JSON.stringify(body)}`).toBe(200);
  return body.outcome;
}
async function deliverAll(events: Stripe.Event[]) {
  for (const e of events) await deliver(e);
}

/** Buys the pack through Checkout, saving the card (or not), and delivers Stripe's events. */
async function buy(client: HttpClient, card = CARD_OK, save = true) {
  await newEvents();
  const res = await api(client, "POST", "/api/stripe/checkout", { pack: "default", ...(save ? { savePaymentMethod: true } : {}) });
  expect(res.status, await res.clone().text()).toBe(200);
  const { id } = (await res.json()) as { id: string };
  await driver(`/checkout/sessions/${id}/pay`, { card });
  await deliverAll(await newEvents());
  return id;
}

async function settings(client: HttpClient, body: Record<string, unknown>) {
  const res = await api(client, "PUT", "/api/auto-recharge", { enabled: true, pack: "default", maxRechargesPerMonth: null, ...body });
  expect(res.status, await res.clone().text()).toBe(200);
  return res.json() as Promise<Record<string, unknown>>;
}

async function generate(client: HttpClient) {
  const res = await api(client, "POST", "/api/generate-image", { prompt: "a lighthouse", size: "256x256" });
  return res.status;
}

type Attempt = { id: number; status: string; payment_intent_id: string | null; failure_code: string | null; tx_id: number | null; amount: number };
const attemptsOf = async (userId: number) => await q<Attempt>("select * from auto_recharge_attempts where user_id = ? order by id", userId);

async function until<T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
/** Waits until no attempt of the user is claimed (the fire-and-forget call has been answered). */
const settledAttempts = (userId: number, count: number) =>
  until(`${count} answered attempts`, async () => {
    const rows = await attemptsOf(userId);
    return rows.length === count && rows.every((r) => r.status !== "claimed") ? rows : undefined;
  });

async function rechargeIntents(customerId: string) {
  const list = await stripe.paymentIntents.list({ customer: customerId, limit: 100 });
  return list.data.filter((pi) => pi.metadata?.autoRechargeAttempt);
}
const customerOf = async (userId: number) => (await q<{ c: string }>("select stripe_customer_id as c from users where id = ?", userId))[0]!.c;
const topups = async (userId: number) => await q<{ amount: number; key: string; stripe_payment_id: string }>(`select amount, idempotency_key as "key", stripe_payment_id from transactions where user_id = ? and type = 'topup' order by id`, userId);
const emailOf = async (userId: number) => (await q<{ email: string }>("select email from users where id = ?", userId))[0]!.email;
const mails = async (email: string) => await q<{ kind: string; text_body: string; subject: string }>("select kind, text_body, subject from mail_queue where to_address = ? order by id", email);
const settingsRow = async (userId: number) => (await q<{ enabled: number; consecutive_failures: number; disabled_reason: string | null }>("select * from auto_recharge_settings where user_id = ?", userId))[0];

async function ledgerViolations() {
  return (await verifyServerLedger(server, { sweepGraceMs: 60_000 })).violations;
}

// ---------------------------------------------------------------------------------------------

describe("saving a card", () => {
  it("a purchase with savePaymentMethod saves the card (brand, last four) and the billing page shows it; without it nothing is saved", async () => {
    const plain = await customer();
    await buy(plain.client, CARD_OK, false);
    expect(((await (await plain.client.get("/api/auto-recharge")).json()) as { card: unknown }).card).toBeNull();

    const { client, userId } = await customer();
    const sessionId = await buy(client);
    const session = await stripe.checkout.sessions.retrieve(sessionId, { expand: ["payment_intent"] });
    expect((session.payment_intent as Stripe.PaymentIntent).setup_future_usage).toBe("off_session");
    const view = (await (await client.get("/api/auto-recharge")).json()) as { card: { brand: string; last4: string } };
    expect(view.card).toEqual({ brand: "visa", last4: "4242" });
    const page = await (await client.get("/settings/billing")).text();
    expect(page).toMatch(/Visa<\/span> ending in <span[^>]*>4242/);
    expect(await balanceOf(client)).toBe(500);
    expect(await q("select * from saved_cards where user_id = ?", userId)).toHaveLength(1);
  });

  it.each([["yes"], ["true"], ["1"], ["ON"], [""]])("savePaymentMethod=%j is refused (400) and starts no Checkout", async (value) => {
    const { client, userId } = await customer();
    const res = await api(client, "POST", "/api/stripe/checkout", { pack: "default", savePaymentMethod: value });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toBe("invalid_request");
    expect(await q("select * from checkout_attempts where user_id = ?", userId)).toHaveLength(0);
  });

  it("the billing page's Add a card starts a setup-mode Checkout; completing it saves the card; Remove card detaches it at Stripe", async () => {
    const { client, userId } = await customer();
    await newEvents();
    const res = await client.post("/settings/billing", { intent: "add-card", token: "add-card-1" });
    expect(res.status).toBe(303);
    const sessionId = /cs_[A-Za-z0-9_]+/.exec(res.headers.get("location") ?? "")?.[0];
    expect(sessionId).toBeTruthy();
    const session = await stripe.checkout.sessions.retrieve(sessionId!);
    expect(session.mode).toBe("setup");
    await driver(`/checkout/sessions/${sessionId}/pay`, { card: CARD_3DS });
    const events = await newEvents();
    expect(events.map((e) => e.type)).toContain("payment_method.attached");
    // Reordered and twice: the session's completion first, then everything again.
    await deliverAll([...events].reverse());
    await deliverAll(events);
    const view = (await (await client.get("/api/auto-recharge")).json()) as { card: { last4: string } };
    expect(view.card).toEqual({ brand: "visa", last4: "3184" });
    expect(await balanceOf(client)).toBe(0);

    const pmId = (await q<{ pm: string }>("select payment_method_id as pm from saved_cards where user_id = ?", userId))[0]!.pm;
    const removed = await client.post("/settings/billing", { intent: "remove-card" });
    expect(removed.status).toBe(303);
    expect((await stripe.paymentMethods.retrieve(pmId)).customer).toBeNull();
    expect(((await (await client.get("/api/auto-recharge")).json()) as { card: unknown }).card).toBeNull();
    // Its payment_method.detached changes nothing more; a second remove says there is none.
    await deliverAll(await newEvents());
    expect((await client.post("/settings/billing", { intent: "remove-card" })).status).toBe(303);
  });
});

describe("settings", () => {
  it("GET and PUT /api/auto-recharge: 200 with the settings; switching on needs a saved card", async () => {
    const { client } = await customer();
    const empty = await (await client.get("/api/auto-recharge")).json();
    expect(empty).toMatchObject({ enabled: false, thresholdCredits: null, pack: null, card: null });
    const noCard = await api(client, "PUT", "/api/auto-recharge", { enabled: true, thresholdCredits: 100, pack: "default", maxRechargesPerMonth: 2 });
    expect(noCard.status).toBe(422);
    expect(((await noCard.json()) as { error: string }).error).toBe("no_saved_card");
    const off = await api(client, "PUT", "/api/auto-recharge", { enabled: false, thresholdCredits: 100, pack: "default", maxRechargesPerMonth: 2 });
    expect(off.status).toBe(200);
    expect(await off.json()).toMatchObject({ enabled: false, thresholdCredits: 100, pack: "default", maxRechargesPerMonth: 2, maxAmountPerMonth: null });
    await buy(client);
    const on = await settings(client, { thresholdCredits: 50, maxRechargesPerMonth: 3, maxAmountPerMonth: 2000 });
    expect(on).toMatchObject({ enabled: true, thresholdCredits: 50, maxRechargesPerMonth: 3, maxAmountPerMonth: 2000, switchedOff: false });
    expect(await (await client.get("/api/auto-recharge")).json()).toMatchObject(on);
  });

  const base = { enabled: false, thresholdCredits: 100, pack: "default", maxRechargesPerMonth: null };
  const hostile: Array<[string, unknown, string]> = [
    ["an unknown pack", { ...base, pack: "nope" }, "unknown_pack"],
    ["a price id as pack", { ...base, pack: "price_credits_pack" }, "unknown_pack"],
    ["__proto__ as pack", { ...base, pack: "__proto__" }, "unknown_pack"],
    ["an empty pack", { ...base, pack: "" }, "invalid_request"],
    ["a long pack", { ...base, pack: "x".repeat(5000) }, "invalid_request"],
    ["a numeric pack", { ...base, pack: 1 }, "invalid_request"],
    ["zero threshold", { ...base, thresholdCredits: 0 }, "invalid_request"],
    ["negative threshold", { ...base, thresholdCredits: -5 }, "invalid_request"],
    ["fractional threshold", { ...base, thresholdCredits: 1.5 }, "invalid_request"],
    ["threshold as text", { ...base, thresholdCredits: "100" }, "invalid_request"],
    ["huge threshold", { ...base, thresholdCredits: 1e12 }, "invalid_request"],
    ["NaN-ish threshold", { ...base, thresholdCredits: null }, "invalid_request"],
    ["missing threshold", { enabled: false, pack: "default" }, "invalid_request"],
    ["enabled as text", { ...base, enabled: "true" }, "invalid_request"],
    ["zero cap", { ...base, maxRechargesPerMonth: 0 }, "invalid_request"],
    ["fractional cap", { ...base, maxRechargesPerMonth: 2.5 }, "invalid_request"],
    ["negative money cap", { ...base, maxAmountPerMonth: -100 }, "invalid_request"],
    ["an unknown field", { ...base, userId: 1 }, "invalid_request"],
    ["an array", [base], "invalid_request"],
    ["a JSON string", '"enabled"', "invalid_request"],
    ["null", null, "invalid_request"],
  ];
  it.each(hostile)("422 for %s, nothing saved", async (_label, body, error) => {
    const { client, userId } = await customer();
    const res = await api(client, "PUT", "/api/auto-recharge", body);
    expect(res.status).toBe(422);
    expect(((await res.json()) as { error: string }).error).toBe(error);
    expect(await settingsRow(userId)).toBeUndefined();
  });

  it("refuses what is not JSON, other methods, and strangers", async () => {
    const { client } = await customer();
    expect((await api(client, "PUT", "/api/auto-recharge", "{not json")).status).toBe(400);
    expect((await api(client, "PUT", "/api/auto-recharge", "enabled=true", "application/x-www-form-urlencoded")).status).toBe(415);
    expect((await api(client, "POST", "/api/auto-recharge", base)).status).toBe(405);
    expect((await new HttpClient(server.url).get("/api/auto-recharge", { headers: { Accept: "application/json" } })).status).toBe(401);
    const stranger = await fetch(`${server.url}/api/auto-recharge`, { method: "PUT", headers: { "Content-Type": "application/json", Cookie: client.cookieHeader(), Origin: "https://evil.example" }, body: JSON.stringify(base) });
    expect(stranger.status).toBe(403);
  });

  it("the billing form saves the settings (dollars cap) and answers a bad threshold on its field", async () => {
    const { client, userId } = await customer();
    await buy(client);
    const bad = await client.post("/settings/billing", { intent: "auto-recharge", enabled: "on", thresholdCredits: "-3", pack: "default" });
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain("positive whole number");
    expect(await settingsRow(userId)).toBeUndefined();
    const unknown = await client.post("/settings/billing", { intent: "auto-recharge", enabled: "on", thresholdCredits: "30", pack: "gold" });
    expect(unknown.status).toBe(422);
    const ok = await client.post("/settings/billing", { intent: "auto-recharge", enabled: "on", thresholdCredits: "30", pack: "default", maxRechargesPerMonth: "2", maxDollarsPerMonth: "12.50" });
    expect(ok.status).toBe(303);
    expect(await (await client.get("/api/auto-recharge")).json()).toMatchObject({ enabled: true, thresholdCredits: 30, maxRechargesPerMonth: 2, maxAmountPerMonth: 1250 });
  });
});

describe("the crossing", () => {
  it("20 parallel spends across the threshold make ONE PaymentIntent; credits arrive only from payment_intent.succeeded, once, replayed and reordered; a refund takes them back", async () => {
    const { client, userId } = await customer();
    await buy(client);
    await settings(client, { thresholdCredits: 450, maxRechargesPerMonth: 5 });
    await newEvents();
    const statuses = await Promise.all(Array.from({ length: 20 }, () => generate(client)));
    expect(statuses.every((s) => s === 201)).toBe(true);
    const [attempt] = await settledAttempts(userId, 1);
    expect(attempt!.status).toBe("sent");
    const intents = await rechargeIntents(await customerOf(userId));
    expect(intents).toHaveLength(1);
    const pi = intents[0]!;
    expect(pi).toMatchObject({ id: attempt!.payment_intent_id, status: "succeeded", amount: 500, currency: "usd" });
    expect(pi.metadata).toMatchObject({ app: "credits", userId: String(userId), pack: "default", autoRechargeAttempt: String(attempt!.id), threshold: "450" });
    // Paid at Stripe, but the API's answer grants nothing.
    expect(await balanceOf(client)).toBe(400);
    expect(await topups(userId)).toHaveLength(0);
    // More spends while it is in flight start nothing.
    expect(await generate(client)).toBe(201);
    await new Promise((r) => setTimeout(r, 300));
    expect(await attemptsOf(userId)).toHaveLength(1);

    const events = await newEvents();
    expect(events.map((e) => e.type)).toEqual(expect.arrayContaining(["payment_intent.created", "charge.succeeded", "payment_intent.succeeded"]));
    const succeeded = events.filter((e) => e.type === "payment_intent.succeeded");
    // Reordered (succeeded first), then everything twice more, in parallel.
    await deliverAll(succeeded);
    await deliverAll(events);
    await Promise.all([...events, ...events].map((e) => deliver(e)));
    expect(await topups(userId)).toEqual([{ amount: 500, key: `topup:${pi.id}`, stripe_payment_id: pi.id }]);
    expect(await balanceOf(client)).toBe(895);
    expect((await attemptsOf(userId))[0]).toMatchObject({ status: "succeeded" });
    // One top-up, one mail saying so, however often the events came.
    const done = (await mails(await emailOf(userId))).filter((m) => m.kind === "auto_recharge_succeeded");
    expect(done).toHaveLength(1);
    expect(done[0]!.subject).toBe("Auto-recharge: 500 credits added");
    expect(done[0]!.text_body).toContain("$5.00 charged");
    const history = await (await client.get("/settings/billing")).text();
    expect(history).toContain("Auto-recharge: 500 credits");

    // Its Stripe receipt, like a purchase's.
    const topupId = (await q<{ id: number }>("select id from transactions where user_id = ? and type = 'topup'", userId))[0]!.id;
    const receipt = await client.get(`/settings/billing/receipt/${topupId}`);
    expect(receipt.status).toBe(303);
    expect(receipt.headers.get("location")).toMatch(/^http/);
    // A refund of the top-up takes back like a purchase's, and the history says refunded.
    await stripe.refunds.create({ payment_intent: pi.id });
    await deliverAll(await newEvents());
    expect(await balanceOf(client)).toBe(395);
    expect(await ledgerViolations()).toEqual([]);
  }, 60_000);

  it("a lost webhook: the reconciler reads the PaymentIntent from Stripe and grants once; the late webhook then grants nothing more", async () => {
    const { client, userId } = await customer();
    await buy(client);
    await settings(client, { thresholdCredits: 498 });
    await newEvents();
    expect(await generate(client)).toBe(201);
    const [attempt] = await settledAttempts(userId, 1);
    expect(attempt!.status).toBe("sent");
    await withServerSql(server, (sql) => sql.run("update auto_recharge_attempts set updated_at = ? where id = ?", [Date.now() - 11 * 60_000, attempt!.id]));
    await until("the reconciler's grant", async () => (await attemptsOf(userId))[0]!.status === "succeeded");
    expect(await topups(userId)).toHaveLength(1);
    await deliverAll(await newEvents());
    expect(await topups(userId)).toHaveLength(1);
    expect(await balanceOf(client)).toBe(995);
  }, 60_000);

  it("an admin refunds a top-up from the console like a purchase; the credits go only with Stripe's charge.refunded", async () => {
    const { client, userId } = await customer();
    await buy(client);
    await settings(client, { thresholdCredits: 498 });
    await newEvents();
    expect(await generate(client)).toBe(201);
    await settledAttempts(userId, 1);
    await deliverAll(await newEvents());
    const topupId = (await q<{ id: number }>("select id from transactions where user_id = ? and type = 'topup'", userId))[0]!.id;
    const admin = new HttpClient(server.url);
    if ((await q("select 1 from users where email = 'recharge-admin@example.com'")).length) await admin.login("recharge-admin@example.com");
    else await admin.signup("recharge-admin@example.com");
    const page = await (await admin.get(`/admin/credits/${userId}`)).text();
    expect(page).toContain(`refund=${topupId}`);
    const res = await admin.post(`/admin/credits/${userId}`, { intent: "refund", token: `tok-recharge-${Date.now()}`.padEnd(20, "x"), transactionId: String(topupId), reason: "Did not want auto-recharge" });
    expect(res.status, await res.clone().text()).toBe(303);
    expect(await balanceOf(client)).toBe(995);
    await deliverAll(await newEvents());
    expect(await balanceOf(client)).toBe(495);
    expect(await ledgerViolations()).toEqual([]);
  }, 60_000);

  it("two server processes on one database: 20 parallel spends split between them still make one PaymentIntent", async () => {
    const { client, userId } = await customer();
    await buy(client);
    await settings(client, { thresholdCredits: 450 });
    const second = await startServer({ ...ENV, STRIPE_API_BASE: emulator.url }, { dataDir: server.dataDir });
    try {
      const other = new HttpClient(second.url);
      for (const [k, v] of client.cookies) other.cookies.set(k, v);
      const otherApi = (i: number) => other.request("/api/generate-image", { method: "POST", headers: { "Content-Type": "application/json", Origin: second.url }, body: JSON.stringify({ prompt: `pier ${i}`, size: "256x256" }) });
      const statuses = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? generate(client) : otherApi(i).then((r) => r.status))));
      expect(statuses.every((s) => s === 201)).toBe(true);
      await settledAttempts(userId, 1);
      await new Promise((r) => setTimeout(r, 500));
      expect(await attemptsOf(userId)).toHaveLength(1);
      expect(await rechargeIntents(await customerOf(userId))).toHaveLength(1);
      await deliverAll(await newEvents());
      expect(await topups(userId)).toHaveLength(1);
      expect(await balanceOf(client)).toBe(900);
    } finally {
      await second.stop();
    }
  }, 60_000);

  it("a restart between the PaymentIntent and its webhook loses and doubles nothing; an attempt claimed but never sent is sent after a restart with the same key", async () => {
    const { client, userId } = await customer();
    await buy(client);
    await settings(client, { thresholdCredits: 498 });
    await newEvents();
    expect(await generate(client)).toBe(201);
    const [attempt] = await settledAttempts(userId, 1);
    await server.stop();
    server = await startServer({ ...ENV, STRIPE_API_BASE: emulator.url }, { dataDir: server.dataDir });
    const events = await newEvents();
    await deliverAll(events);
    await deliverAll(events);
    expect(await topups(userId)).toHaveLength(1);
    expect(await balanceOf(await relogin(client))).toBe(995);
    expect(await attemptsOf(userId)).toHaveLength(1);
    expect((await attemptsOf(userId))[0]).toMatchObject({ id: attempt!.id, status: "succeeded" });
    // A dispute of the top-up takes it back and puts the account on hold, as for a purchase.
    const intent = await stripe.paymentIntents.retrieve(attempt!.payment_intent_id!);
    await driver(`/charges/${String(intent.latest_charge)}/disputes`, {});
    await deliverAll(await newEvents());
    expect(await balanceOf(await relogin(client))).toBe(495);
    expect((await q<{ f: number | null }>("select flagged_at as f from users where id = ?", userId))[0]!.f).not.toBeNull();

    // A crash right after the claim: the row is there, Stripe never heard of it.
    const { client: c2, userId: u2 } = await customer();
    await buy(c2);
    await settings(c2, { thresholdCredits: 498 });
    await server.stop();
    await withServerSql(server, async (sql) => {
      const { pm } = (await sql.get<{ pm: string }>("select payment_method_id as pm from saved_cards where user_id = ?", [u2]))!;
      const old = Date.now() - 60_000;
      await sql.run(
        "insert into auto_recharge_attempts (user_id, pack_id, credits, amount, currency, payment_method_id, status, balance_at_claim, threshold_credits, created_at, updated_at) values (?, 'default', 500, 500, 'usd', ?, 'claimed', 495, 498, ?, ?)",
        [u2, pm, old, old],
      );
    });
    await newEvents();
    server = await startServer({ ...ENV, STRIPE_API_BASE: emulator.url }, { dataDir: server.dataDir });
    const [sent] = await settledAttempts(u2, 1);
    expect(sent!.status).toBe("sent");
    expect(await rechargeIntents(await customerOf(u2))).toHaveLength(1);
    await deliverAll(await newEvents());
    expect(await topups(u2)).toHaveLength(1);
    expect(await ledgerViolations()).toEqual([]);
  }, 90_000);
});

async function relogin(client: HttpClient) {
  // A restart moves the server to a new port: the same cookies against the new address.
  const moved = new HttpClient(server.url);
  for (const [k, v] of client.cookies) moved.cookies.set(k, v);
  return moved;
}

describe("a deleted account", () => {
  it("switches auto-recharge off and forgets the saved card, in the deletion itself", async () => {
    const { client, userId } = await customer();
    await buy(client);
    await settings(client, { thresholdCredits: 100 });
    const res = await client.post("/settings/account", { intent: "delete-account", password: "password123", confirm: "DELETE" });
    expect(res.status).toBe(303);
    expect(await settingsRow(userId)).toMatchObject({ enabled: 0, disabled_reason: "account_deleted" });
    expect(await q("select * from saved_cards where user_id = ?", userId)).toHaveLength(0);
    expect(await attemptsOf(userId)).toHaveLength(0);
  });
});

describe("refusals, the cap, switching off", () => {
  it("3-D Secure: no grant; a mail with the on-session link; the webhook does not count the failure twice", async () => {
    const { client: c, userId, email } = await customer();
    await buy(c, CARD_3DS);
    const client = await relogin(c);
    await settings(client, { thresholdCredits: 498 });
    await newEvents();
    expect(await generate(client)).toBe(201);
    const [attempt] = await settledAttempts(userId, 1);
    expect(attempt).toMatchObject({ status: "failed", failure_code: "authentication_required" });
    expect(attempt!.payment_intent_id).toMatch(/^pi_/);
    const events = await newEvents();
    expect(events.map((e) => e.type)).toContain("payment_intent.payment_failed");
    await deliverAll(events);
    await deliverAll(events);
    expect(await topups(userId)).toHaveLength(0);
    expect(await settingsRow(userId)).toMatchObject({ enabled: 1, consecutive_failures: 1 });
    const sent = (await mails(email)).filter((m) => m.kind === "auto_recharge_failed");
    expect(sent).toHaveLength(1);
    expect(sent[0]!.text_body).toContain("3-D Secure");
    expect(sent[0]!.text_body).toContain(`${server.url}/settings/billing?recharge=failed`);
    const page = await (await client.get("/settings/billing?recharge=failed")).text();
    expect(page).toContain("did not go through");
    expect(await ledgerViolations()).toEqual([]);
  }, 60_000);

  it("three declines in a row switch auto-recharge off, on the page and by mail; no fourth attempt", async () => {
    const { client: c, userId, email } = await customer();
    await buy(c);
    const client = await relogin(c);
    // Save the declining card through the setup Checkout (0341 saves, then every charge fails).
    await newEvents();
    const res = await client.post("/settings/billing", { intent: "add-card", token: "decline-card" });
    const sessionId = /cs_[A-Za-z0-9_]+/.exec(res.headers.get("location") ?? "")![0];
    await driver(`/checkout/sessions/${sessionId}/pay`, { card: CARD_DECLINE });
    await deliverAll(await newEvents());
    expect(((await (await client.get("/api/auto-recharge")).json()) as { card: { last4: string } }).card.last4).toBe("0341");
    await settings(client, { thresholdCredits: 498 });
    for (let i = 1; i <= 3; i++) {
      expect(await generate(client)).toBe(201);
      const rows = await settledAttempts(userId, i);
      expect(rows[i - 1]).toMatchObject({ status: "failed", failure_code: "card_declined" });
    }
    await deliverAll(await newEvents());
    expect(await settingsRow(userId)).toMatchObject({ enabled: 0, consecutive_failures: 3, disabled_reason: "three_failures" });
    expect((await mails(email)).map((m) => m.kind).filter((k) => k.startsWith("auto_recharge"))).toEqual(["auto_recharge_failed", "auto_recharge_failed", "auto_recharge_off"]);
    expect((await mails(email)).at(-1)!.text_body).toContain("switched off");
    expect(await generate(client)).toBe(201);
    await new Promise((r) => setTimeout(r, 300));
    expect(await attemptsOf(userId)).toHaveLength(3);
    const page = await (await client.get("/settings/billing")).text();
    expect(page).toContain("Auto-recharge is off");
    expect(((await (await client.get("/api/auto-recharge")).json()) as { switchedOff: boolean }).switchedOff).toBe(true);
    // Switching it on again starts the count over.
    const on = await settings(client, { thresholdCredits: 498 });
    expect(on).toMatchObject({ enabled: true, switchedOff: false, consecutiveFailures: 0 });
    expect(await topups(userId)).toHaveLength(0);
  }, 90_000);

  it("the monthly cap is never exceeded: by count, and by amount", async () => {
    const { client: c, userId } = await customer();
    await buy(c);
    const client = await relogin(c);
    await settings(client, { thresholdCredits: 498, maxRechargesPerMonth: 1 });
    await newEvents();
    await Promise.all(Array.from({ length: 5 }, () => generate(client)));
    await settledAttempts(userId, 1);
    await deliverAll(await newEvents());
    expect(await topups(userId)).toHaveLength(1);
    // Below the threshold again (spend the top-up): the cap of one a month refuses a second.
    await settings(client, { thresholdCredits: 1000, maxRechargesPerMonth: 1 });
    await Promise.all(Array.from({ length: 5 }, () => generate(client)));
    await new Promise((r) => setTimeout(r, 500));
    expect(await attemptsOf(userId)).toHaveLength(1);

    const { client: c2, userId: u2 } = await customer();
    await buy(c2);
    const client2 = await relogin(c2);
    // $4.00 a month cannot buy a $5.00 pack.
    await settings(client2, { thresholdCredits: 498, maxAmountPerMonth: 400 });
    expect(await generate(client2)).toBe(201);
    await new Promise((r) => setTimeout(r, 500));
    expect(await attemptsOf(u2)).toHaveLength(0);
    expect(await ledgerViolations()).toEqual([]);
  }, 60_000);
});
