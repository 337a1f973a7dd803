import Stripe from "stripe";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { STRIPE_API_VERSION } from "../../app/services/stripe.server";
import type { SqlDb } from "../../db/sql.server";
import { freePort, HttpClient, startServer, type RunningServer } from "../support/server";
import { openServerSql } from "../support/server-sql";

// The whole money path against the built app and its in-process Stripe emulator, driven through
// the real stripe SDK: purchases, replays, races, delayed payments, refunds, disputes, forgeries.

const WEBHOOK_SECRET = "whsec_flowtestsecret0123456789";
let server: RunningServer;
let emulatorUrl: string;
let stripe: Stripe;
let db: SqlDb;

beforeAll(async () => {
  const emulatorPort = await freePort();
  server = await startServer({ STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET, STRIPE_EMULATOR_PORT: String(emulatorPort) });
  emulatorUrl = `http://127.0.0.1:${emulatorPort}`;
  stripe = new Stripe("sk_test_emulator", {
    apiVersion: STRIPE_API_VERSION,
    host: "127.0.0.1",
    port: emulatorPort,
    protocol: "http",
  });
  db = openServerSql(server);
});
afterAll(async () => {
  await db?.close();
  await server?.stop();
});

let counter = 0;
async function newCustomer() {
  const client = new HttpClient(server.url);
  const email = `buyer${++counter}-${Date.now()}@example.com`;
  await client.signup(email);
  return client;
}

async function balanceOf(client: HttpClient): Promise<number> {
  const res = await client.get("/api/credits");
  return ((await res.json()) as { balance: number }).balance;
}

async function startCheckout(client: HttpClient, pack = "default"): Promise<{ id: string; url: string }> {
  const res = await client.post("/api/stripe/checkout", { pack }, { headers: { Accept: "application/json" } });
  expect(res.status).toBe(200);
  return (await res.json()) as { id: string; url: string };
}

async function driver(pathname: string, body: unknown = {}) {
  const res = await fetch(`${emulatorUrl}${pathname}`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${pathname}: ${res.status} ${await res.text()}`);
  return res.json();
}

async function eventsFor(objectId: string) {
  const res = await fetch(`${emulatorUrl}/__emulator/events?limit=100`);
  const { data } = (await res.json()) as {
    data: Array<{ event: Stripe.Event; delivery: { status: string } }>;
  };
  return data.filter((d) => (d.event.data.object as { id: string }).id === objectId);
}

async function until<T>(what: string, probe: () => Promise<T>, ok: (v: T) => boolean, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (ok(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last value ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function purchaseRows(sessionId: string) {
  return db.all<{ amount: number; stripe_payment_id: string }>("select * from transactions where idempotency_key = ?", [`checkout:${sessionId}`]);
}

async function postWebhook(body: string, signature?: string) {
  return fetch(`${server.url}/api/stripe/webhook`, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...(signature ? { "Stripe-Signature": signature } : {}) },
    body,
  });
}

function sign(payload: string, opts: { secret?: string; timestamp?: number } = {}) {
  return stripe.webhooks.generateTestHeaderString({
    payload,
    secret: opts.secret ?? WEBHOOK_SECRET,
    timestamp: opts.timestamp,
  });
}

async function buyAndSettle(client: HttpClient) {
  const session = await startCheckout(client);
  await driver(`/__emulator/checkout/sessions/${session.id}/pay`, { outcome: "paid" });
  await until("the purchase", () => balanceOf(client), (b) => b === 510);
  const full = await stripe.checkout.sessions.retrieve(session.id, { expand: ["payment_intent"] });
  const intent = full.payment_intent as Stripe.PaymentIntent;
  return { session, paymentIntentId: intent.id, chargeId: intent.latest_charge as string };
}

describe("checkout", () => {
  it("creates a payment-mode session for the user's (reused) customer and redirects 303 to it", async () => {
    const client = await newCustomer();
    const res = await client.post("/api/stripe/checkout", { pack: "default", token: "t1" });
    expect(res.status).toBe(303);
    const location = res.headers.get("location")!;
    expect(location).toContain("/checkout/cs_");
    const sessionId = location.split("/checkout/")[1]!.split(/[?#]/)[0]!;
    const session = await stripe.checkout.sessions.retrieve(sessionId, { expand: ["line_items"] });
    expect(session.mode).toBe("payment");
    expect(session.metadata).toMatchObject({ pack: "default", credits: "500" });
    expect(session.client_reference_id).toBe(session.metadata!.userId);
    expect(session.success_url).toContain("/settings/billing/success?session_id={CHECKOUT_SESSION_ID}");
    expect(session.line_items!.data[0]!.quantity).toBe(1);
    // STRIPE_ALLOW_PROMOTION_CODES is off by default: no code field, and the hosted page's
    // discount is refused (stripe-promotion-codes.test.ts has it on).
    expect(session.allow_promotion_codes).not.toBe(true);
    expect(await (await fetch(location)).text()).not.toContain("discount code");
    const discounted = await fetch(location, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: "action=free_with_discount",
      redirect: "manual",
    });
    expect(discounted.status).toBe(400);
    expect((await stripe.checkout.sessions.retrieve(sessionId)).status).toBe("open");

    // The same form token (a double submit) returns the same session; the customer is reused.
    const again = await client.post("/api/stripe/checkout", { pack: "default", token: "t1" });
    expect(again.headers.get("location")).toBe(location);
    const other = await startCheckout(client);
    const otherSession = await stripe.checkout.sessions.retrieve(other.id);
    expect(otherSession.customer).toBe(session.customer);
  });

  it("refuses an unknown pack with 400 and calls nothing", async () => {
    const client = await newCustomer();
    const res = await client.post("/api/stripe/checkout", { pack: "gold" }, { headers: { Accept: "application/json" } });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: "unknown_pack" });
    const row = await db.get<{ stripe_customer_id: string | null }>("select stripe_customer_id from users where id = (select max(id) from users)");
    expect(row!.stripe_customer_id).toBeNull();
  });

  it("sends an anonymous buyer to log in", async () => {
    const res = await fetch(`${server.url}/api/stripe/checkout`, {
      method: "POST",
      body: new URLSearchParams({ pack: "default" }),
      redirect: "manual",
    });
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toMatch(/^\/login\?redirectTo=/);
  });
});

describe("fulfilment exactly once", () => {
  it("grants a paid purchase once under replays, duplicates, races and success-page visits", async () => {
    const client = await newCustomer();
    const session = await startCheckout(client);
    await driver(`/__emulator/checkout/sessions/${session.id}/pay`, { outcome: "paid" });

    // Race the webhook: success-page visits and resends of the event, all at once.
    const completed = await until("the completed event", () => eventsFor(session.id), (e) => e.length > 0);
    const eventId = completed[0]!.event.id;
    await Promise.all([
      ...Array.from({ length: 4 }, () => client.get(`/settings/billing/success?session_id=${session.id}`)),
      ...Array.from({ length: 4 }, () => driver(`/__emulator/events/${eventId}/resend`)),
    ]);
    await until("deliveries", () => eventsFor(session.id), (e) => e.every((x) => x.delivery.status !== "pending"));
    expect(await balanceOf(client)).toBe(510);

    // A replay of the exact signed event is acknowledged and changes nothing.
    const payload = JSON.stringify(completed[0]!.event);
    const replay = await postWebhook(payload, sign(payload));
    expect(replay.status).toBe(200);
    expect(await replay.json()).toMatchObject({ received: true, outcome: "duplicate" });

    const rows = await purchaseRows(session.id);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.amount).toBe(500);
    expect(rows[0]!.stripe_payment_id).toMatch(/^pi_/);
    expect(await balanceOf(client)).toBe(510);
  });

  it("the success page fulfils at once and shows the new balance with a toast", async () => {
    const client = await newCustomer();
    const session = await startCheckout(client);
    await driver(`/__emulator/checkout/sessions/${session.id}/pay`, { outcome: "paid" });
    const res = await client.get(`/settings/billing/success?session_id=${session.id}`);
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/settings/billing");
    expect(await balanceOf(client)).toBe(510);
    const page = await client.get("/settings/billing");
    expect(await page.text()).toContain("Payment received: 500 credits added");
  });

  it("a success URL with somebody else's session grants nothing to the visitor", async () => {
    const owner = await newCustomer();
    const session = await startCheckout(owner);
    await driver(`/__emulator/checkout/sessions/${session.id}/pay`, { outcome: "paid" });
    const thief = await newCustomer();
    await thief.get(`/settings/billing/success?session_id=${session.id}`);
    expect(await balanceOf(thief)).toBe(10);
    await until("the owner's purchase", () => balanceOf(owner), (b) => b === 510);
  });

  it("an unpaid completion grants nothing until async_payment_succeeded, then exactly once", async () => {
    const client = await newCustomer();
    const session = await startCheckout(client);
    await driver(`/__emulator/checkout/sessions/${session.id}/pay`, { outcome: "delayed_success" });
    await until("the completed event", () => eventsFor(session.id), (e) =>
      e.some((x) => x.event.type === "checkout.session.completed" && x.delivery.status === "delivered"),
    );
    const visit = await client.get(`/settings/billing/success?session_id=${session.id}`);
    expect(visit.status).toBe(303);
    expect(await balanceOf(client)).toBe(10);
    expect(await purchaseRows(session.id)).toHaveLength(0);

    await driver("/__emulator/async-payments/settle");
    await until("the delayed purchase", () => balanceOf(client), (b) => b === 510);

    // Out of order: the old completed event (unpaid when sent) arrives again after success.
    const events = await eventsFor(session.id);
    for (const e of events) await driver(`/__emulator/events/${e.event.id}/resend`);
    await until("deliveries", () => eventsFor(session.id), (e) => e.every((x) => x.delivery.status !== "pending"));
    expect(await balanceOf(client)).toBe(510);
    expect(await purchaseRows(session.id)).toHaveLength(1);
  });

  it("async_payment_failed grants nothing", async () => {
    const client = await newCustomer();
    const session = await startCheckout(client);
    await driver(`/__emulator/checkout/sessions/${session.id}/pay`, { outcome: "delayed_failure" });
    await driver("/__emulator/async-payments/settle");
    await until("the failure event", () => eventsFor(session.id), (e) =>
      e.some((x) => x.event.type === "checkout.session.async_payment_failed" && x.delivery.status === "delivered"),
    );
    await client.get(`/settings/billing/success?session_id=${session.id}`);
    expect(await balanceOf(client)).toBe(10);
    expect(await purchaseRows(session.id)).toHaveLength(0);
  });
});

describe("refunds and disputes", () => {
  it("a full refund takes the pack's credits back once", async () => {
    const client = await newCustomer();
    const { paymentIntentId, chargeId } = await buyAndSettle(client);
    await stripe.refunds.create({ payment_intent: paymentIntentId });
    await until("the clawback", () => balanceOf(client), (b) => b === 10);
    const refunded = await until("the refund event", () => eventsFor(chargeId), (e) => e.length > 0);
    const payload = JSON.stringify(refunded[0]!.event);
    expect((await postWebhook(payload, sign(payload))).status).toBe(200);
    await driver(`/__emulator/events/${refunded[0]!.event.id}/resend`);
    await new Promise((r) => setTimeout(r, 300));
    expect(await balanceOf(client)).toBe(10);
  });

  it("partial refunds take back credits in proportion, and a late older event takes nothing", async () => {
    const client = await newCustomer();
    const { paymentIntentId, chargeId } = await buyAndSettle(client);
    await stripe.refunds.create({ payment_intent: paymentIntentId, amount: 100 }); // 100 of 500 cents
    await until("the first clawback", () => balanceOf(client), (b) => b === 410);
    await stripe.refunds.create({ payment_intent: paymentIntentId, amount: 150 });
    await until("the second clawback", () => balanceOf(client), (b) => b === 260);

    const events = (await eventsFor(chargeId)).filter((e) => e.event.type === "charge.refunded");
    expect(events).toHaveLength(2);
    for (const e of events) {
      const payload = JSON.stringify({ ...e.event, id: `${e.event.id}_redelivered` });
      expect((await postWebhook(payload, sign(payload))).status).toBe(200);
    }
    expect(await balanceOf(client)).toBe(260);
    const rows = await db.all("select amount from transactions where stripe_payment_id = ? and type = 'refund' order by id", [paymentIntentId]);
    expect(rows).toEqual([{ amount: -100 }, { amount: -150 }]);
  });

  it("a dispute takes the credits back and puts the account on hold", async () => {
    const client = await newCustomer();
    const { chargeId } = await buyAndSettle(client);
    const spend = await client.post("/api/generate-image", { prompt: "spend some" }, { headers: { Accept: "application/json" } });
    const spent = spend.status < 300 ? 5 : 0;
    await driver(`/__emulator/charges/${chargeId}/disputes`, { reason: "fraudulent" });
    await until("the dispute clawback", () => balanceOf(client), (b) => b === 10 - spent);
    const user = await db.get<{ flagged_at: number | null; flagged_reason: string }>(
      "select flagged_at, flagged_reason from users where id = (select user_id from transactions where idempotency_key like 'dispute:%' order by id desc limit 1)",
    );
    expect(user!.flagged_at).not.toBeNull();
    expect(user!.flagged_reason).toContain("fraudulent");
    const buy = await client.post("/api/stripe/checkout", { pack: "default" }, { headers: { Accept: "application/json" } });
    expect(buy.status).toBe(403);
  });
});

describe("webhook forgeries change nothing", () => {
  async function snapshot() {
    return db.get("select (select count(*) from transactions) t, (select count(*) from stripe_events) e, (select sum(credits) from users) c");
  }

  it("refuses a missing or wrong signature, a changed body, a stale timestamp and non-JSON", async () => {
    const client = await newCustomer();
    const session = await startCheckout(client);
    await driver(`/__emulator/checkout/sessions/${session.id}/pay`, { outcome: "paid" });
    const [completed] = await until("the event", () => eventsFor(session.id), (e) => e.length > 0);
    await until("the purchase", () => balanceOf(client), (b) => b === 510);
    const forged = JSON.stringify({ ...completed!.event, id: "evt_forged_1" });
    const before = await snapshot();

    const cases: Array<[string, Response]> = [
      ["no signature", await postWebhook(forged)],
      ["wrong secret", await postWebhook(forged, sign(forged, { secret: "whsec_attacker" }))],
      ["changed after signing", await postWebhook(forged.replace('"livemode":false', '"livemode":true '), sign(forged))],
      ["stale timestamp", await postWebhook(forged, sign(forged, { timestamp: Math.floor(Date.now() / 1000) - 3600 }))],
      ["garbage header", await postWebhook(forged, "t=1,v1=deadbeef")],
      ["non-JSON", await postWebhook("not json at all", sign("not json at all"))],
    ];
    for (const [name, res] of cases) {
      expect(res.status, name).toBe(400);
      expect(await res.json(), name).toMatchObject({ error: "invalid_signature" });
    }
    expect(await snapshot()).toEqual(before);
  });

  it("acknowledges unknown event types with 200 and records them", async () => {
    const payload = JSON.stringify({
      id: "evt_unknown_type_1",
      object: "event",
      type: "customer.created",
      created: Math.floor(Date.now() / 1000),
      data: { object: { id: "cus_x", object: "customer" } },
      livemode: false,
      api_version: STRIPE_API_VERSION,
      pending_webhooks: 1,
      request: { id: null, idempotency_key: null },
    });
    const res = await postWebhook(payload, sign(payload));
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ outcome: "ignored" });
  });

  it("a handler error answers 500 so Stripe retries, and is recorded on the event", async () => {
    const payload = JSON.stringify({
      id: "evt_refund_unknown_payment",
      object: "event",
      type: "charge.refunded",
      created: Math.floor(Date.now() / 1000),
      data: { object: { id: "ch_nope", object: "charge", amount: 500, amount_refunded: 500, payment_intent: "pi_unknown" } },
      livemode: false,
      api_version: STRIPE_API_VERSION,
      pending_webhooks: 1,
      request: { id: null, idempotency_key: null },
    });
    const res = await postWebhook(payload, sign(payload));
    expect(res.status).toBe(500);
    const row = await db.get<{ processed_at: number | null; error: string; attempts: number }>("select processed_at, error, attempts from stripe_events where id = ?", ["evt_refund_unknown_payment"]);
    expect(row!.processed_at).toBeNull();
    expect(row!.error).toContain("pi_unknown");
    expect(row!.attempts).toBe(1);
  });
});
