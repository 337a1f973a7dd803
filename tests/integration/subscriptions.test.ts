import fs from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import Stripe from "stripe";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getSubscriptionView } from "../../app/services/money/subscription-view.server";
import { STRIPE_API_VERSION } from "../../app/services/stripe.server";
import type { SqlDb } from "../../db/sql.server";
import { startStripeEmulator, type StripeEmulator } from "../../stripe-emulator/src/index.server";
import { spendNow } from "../support/ledger";
import { verifyServerLedger } from "../support/server-ledger";
import { HttpClient, startServer, type RunningServer } from "../support/server";
import { openServerSql, withServerSql } from "../support/server-sql";

// The subscription money path against the built app and the emulator, with real signed webhooks.
// The emulator delivers to a relay that only records (so each test delivers the events itself,
// signed, in the order it needs: twice, late, reordered), except when a test turns forwarding on
// to let the emulator's own resend endpoint reach the app.

const SECRET = "whsec_substestsecret0123456789";
const PLANS = [
  { id: "starter", name: "Starter", priceId: "price_plan_starter", credits: 1000, rolloverCap: 300 },
  { id: "basic", name: "Basic", priceId: "price_plan_basic", credits: 200 },
];
let emulator: StripeEmulator;
let stripe: Stripe;
let server: RunningServer;
let db: SqlDb;
let relay: Server;
let forwardTo: string | null = null;
const relayed: string[] = [];
const emulatorDir = fs.mkdtempSync(path.join(os.tmpdir(), "subs-emulator-"));

function startRelay(): Promise<string> {
  relay = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const target = forwardTo;
      if (!target) return void res.writeHead(200).end("{}");
      void fetch(target, {
        method: "POST",
        headers: { "Content-Type": "application/json", "Stripe-Signature": String(req.headers["stripe-signature"] ?? "") },
        body,
      }).then(
        async (r) => {
          relayed.push((JSON.parse(body) as { id: string }).id);
          res.writeHead(r.status).end(await r.text());
        },
        () => res.writeHead(502).end(),
      );
    });
  });
  return new Promise((resolve) => relay.listen(0, "127.0.0.1", () => resolve(`http://127.0.0.1:${(relay.address() as AddressInfo).port}/hook`)));
}

beforeAll(async () => {
  const hookUrl = await startRelay();
  emulator = await startStripeEmulator({
    dbPath: path.join(emulatorDir, "emulator.sqlite"),
    webhookUrl: hookUrl,
    webhookSecret: SECRET,
    prices: [
      { id: "price_credits_pack", unitAmount: 500, currency: "usd", productName: "500 credits" },
      { id: "price_plan_starter", unitAmount: 1000, currency: "usd", productName: "Starter plan", recurring: { interval: "month" } },
      { id: "price_plan_basic", unitAmount: 400, currency: "usd", productName: "Basic plan", recurring: { interval: "month" } },
    ],
    asyncPaymentDelayMs: 60_000,
  });
  stripe = new Stripe("sk_test_subs", { apiVersion: STRIPE_API_VERSION, host: emulator.host, port: emulator.port, protocol: "http" });
  server = await startServer({
    STRIPE_EMULATOR: "off",
    STRIPE_SECRET_KEY: "sk_test_subs",
    STRIPE_WEBHOOK_SECRET: SECRET,
    STRIPE_API_BASE: emulator.url,
    STRIPE_PRICE_ID_CREDITS_PACK: "price_credits_pack",
    CREDITS_PER_PACK: "500",
    CREDIT_PLANS: JSON.stringify(PLANS),
    SIGNUP_BONUS_CREDITS: "0",
  });
  db = openServerSql(server);
}, 60_000);

afterAll(async () => {
  await db?.close();
  await server?.stop();
  await emulator?.close();
  await new Promise<void>((r) => (relay ? relay.close(() => r()) : r()));
});

// ---------------------------------------------------------------------------------------------
// Helpers

let n = 0;
async function customer() {
  const client = new HttpClient(server.url);
  const email = `subs${++n}-${Date.now()}@example.com`;
  await client.signup(email);
  const { id } = (await db.get<{ id: number }>("select id from users where email = ?", [email]))!;
  return { client, userId: id, email };
}

const balanceOf = async (client: HttpClient) => ((await (await client.get("/api/credits")).json()) as { balance: number }).balance;

function postJson(client: HttpClient, pathname: string, body: unknown) {
  return client.request(pathname, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json", Origin: server.url },
    body: JSON.stringify(body),
  });
}

async function driver(pathname: string, body: unknown = {}) {
  const res = await fetch(`${emulator.url}/__emulator${pathname}`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`${pathname}: ${res.status} ${await res.text()}`);
  return res.json() as Promise<Record<string, unknown>>;
}

const seen = new Set<string>();
/** Events the emulator recorded since the last call, oldest first. */
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
  const body = (await res.json()) as { outcome?: string; error?: string };
  expect(res.status, `${event.type} ${event.id}: ${JSON.stringify(body)}`).toBe(200);
  return body;
}

async function deliverAll(events: Stripe.Event[]) {
  const outcomes: Array<{ type: string; outcome?: string }> = [];
  for (const e of events) outcomes.push({ type: e.type, ...(await deliver(e)) });
  return outcomes;
}

const ofType = (events: Stripe.Event[], type: string) => events.filter((e) => e.type === type);

async function ledgerViolations() {
  return (await verifyServerLedger(server, { sweepGraceMs: 60_000 })).violations;
}

/** Spends as an operator's script would (the ledger's own functions), on the server's database. */
function spendOnServer(userId: number, cost: number, description: string) {
  return withServerSql(server, (sql) => spendNow(sql, userId, cost, description));
}

/** The billing page's subscription view, computed by its service on the server's database. */
function subscriptionView(plans: Parameters<typeof getSubscriptionView>[1], userId: number) {
  return withServerSql(server, (sql) => getSubscriptionView(sql, plans, userId));
}

type Row = { id: number; type: string; amount: number; key: string; expiresAt: number | null; closedAt: number | null; remaining: number | null; stripePaymentId: string | null; meta: string | null };
function rowsOf(userId: number): Promise<Row[]> {
  return db.all<Row>(
    `select t.id, t.type, t.amount, t.idempotency_key as "key", t.stripe_payment_id as "stripePaymentId", t.meta,
       g.expires_at as "expiresAt", g.closed_at as "closedAt", g.remaining
     from transactions t left join credit_grants g on g.source_tx_id = t.id where t.user_id = ? order by t.id`,
    [userId],
  );
}

function subscriptionRow(id: string) {
  return db.get<{ status: string; plan_id: string | null; cancel_at_period_end: number; current_period_start: number; current_period_end: number; canceled_at: number | null; ended_at: number | null; stripe_event_created: number; user_id: number }>(
    "select * from subscriptions where id = ?",
    [id],
  );
}

function periodRows(subscriptionId: string) {
  return db.all<{
    invoice_id: string; status: string; period_start: number; period_end: number; tx_id: number | null; payment_intent_id: string | null; amount_paid: number | null;
  }>("select * from subscription_periods where subscription_id = ? order by period_start, created_at", [subscriptionId]);
}

async function startPlanCheckout(client: HttpClient, plan: string, token?: string) {
  const res = await postJson(client, "/api/stripe/checkout", { plan, ...(token ? { token } : {}) });
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as { id: string; url: string };
}

/** Subscribes through Checkout and delivers the events (in Stripe's order): the first period paid. */
async function subscribe(client: HttpClient, plan = "starter") {
  await newEvents();
  const { id } = await startPlanCheckout(client, plan);
  const session = (await driver(`/checkout/sessions/${id}/pay`, { outcome: "paid" })) as unknown as Stripe.Checkout.Session;
  const events = await newEvents();
  const subscriptionId = String(session.subscription);
  const invoiceId = String(session.invoice);
  return { sessionId: id, subscriptionId, invoiceId, events };
}

async function advance(subscriptionId: string, outcome: "paid" | "payment_failed" = "paid") {
  await newEvents();
  const result = (await driver(`/subscriptions/${subscriptionId}/advance`, { outcome })) as { invoice: Stripe.Invoice | null };
  return { invoice: result.invoice, events: await newEvents() };
}

async function paymentOfInvoice(invoiceId: string) {
  const payments = await stripe.invoicePayments.list({ invoice: invoiceId });
  const paymentIntentId = String(payments.data[0]!.payment.payment_intent);
  const intent = await stripe.paymentIntents.retrieve(paymentIntentId);
  return { paymentIntentId, chargeId: String(intent.latest_charge) };
}

// ---------------------------------------------------------------------------------------------

describe("plan checkout", () => {
  it("starts a subscription-mode session with the user and the app marker on it; a form post redirects 303 to Stripe", async () => {
    const { client, userId } = await customer();
    const { id, url } = await startPlanCheckout(client, "starter");
    expect(url).toContain(id);
    const session = await stripe.checkout.sessions.retrieve(id, { expand: ["line_items"] });
    expect(session.mode).toBe("subscription");
    expect(session.metadata).toMatchObject({ app: "credits", userId: String(userId), plan: "starter" });
    expect(session.line_items?.data[0]?.price?.id).toBe("price_plan_starter");
    const form = await client.post("/api/stripe/checkout", { plan: "starter", token: "form-token-1" });
    expect(form.status).toBe(303);
    expect(form.headers.get("location")).toMatch(new RegExp(`^${emulator.url.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}|/checkout/cs_`));
    // The form's checkout replaced the first (only one plan checkout stays payable). Paid: the
    // subscription carries the same metadata (every invoice of it names the user).
    const formSession = form.headers.get("location")!.match(/cs_[A-Za-z0-9_]+/)![0];
    expect(formSession).not.toBe(id);
    const paid = (await driver(`/checkout/sessions/${formSession}/pay`, { outcome: "paid" })) as unknown as Stripe.Checkout.Session;
    const sub = await stripe.subscriptions.retrieve(String(paid.subscription));
    expect(sub.metadata).toMatchObject({ app: "credits", userId: String(userId), plan: "starter" });
    await newEvents();
  });

  const hostile: Array<[string, unknown, number, string]> = [
    ["neither pack nor plan", {}, 400, "invalid_request"],
    ["both pack and plan", { pack: "default", plan: "starter" }, 400, "invalid_request"],
    ["empty plan", { plan: "" }, 400, "invalid_request"],
    ["blank plan", { plan: "   " }, 400, "invalid_request"],
    ["too long", { plan: "s".repeat(33) }, 400, "invalid_request"],
    ["very long", { plan: "x".repeat(5_000) }, 400, "invalid_request"],
    ["unicode", { plan: "stärter" }, 400, "unknown_plan"],
    ["emoji", { plan: "💳" }, 400, "unknown_plan"],
    ["__proto__", { plan: "__proto__" }, 400, "unknown_plan"],
    ["constructor", { plan: "constructor" }, 400, "unknown_plan"],
    ["a pack id as plan", { plan: "default" }, 400, "unknown_plan"],
    ["a price id as plan", { plan: "price_plan_starter" }, 400, "unknown_plan"],
    ["upper case", { plan: "STARTER" }, 400, "unknown_plan"],
    ["an array", { plan: ["starter"] }, 400, "invalid_request"],
    ["a number", { plan: 1 }, 400, "invalid_request"],
    ["null", { plan: null }, 400, "invalid_request"],
    ["an object", { plan: { id: "starter" } }, 400, "invalid_request"],
    ["a boolean", { plan: true }, 400, "invalid_request"],
    ["a plan id as pack", { pack: "starter" }, 400, "unknown_pack"],
    ["an array token", { plan: "starter", token: ["a"] }, 400, "invalid_request"],
  ];
  it.each(hostile)("refuses %s with a clear answer and starts nothing", async (_name, body, status, error) => {
    const { client, userId } = await customer();
    const res = await postJson(client, "/api/stripe/checkout", body);
    expect(res.status).toBe(status);
    expect(((await res.json()) as { error: string }).error).toBe(error);
    const sessions = await stripe.checkout.sessions.list({ limit: 100 });
    expect(sessions.data.filter((s) => s.metadata?.userId === String(userId))).toHaveLength(0);
  });

  it("refuses a body over the limit with 413 and starts nothing", async () => {
    const { client } = await customer();
    const res = await postJson(client, "/api/stripe/checkout", { plan: "x".repeat(2_000_000) });
    expect(res.status).toBe(413);
  });

  it("refuses a form without a plan (and a form with both) as the JSON API does: no session", async () => {
    const { client } = await customer();
    const forms: Array<Record<string, string>> = [{}, { pack: "default", plan: "starter" }, { plan: "__proto__" }];
    for (const form of forms) {
      const res = await client.request("/api/stripe/checkout", {
        method: "POST",
        headers: { Accept: "application/json", "Content-Type": "application/x-www-form-urlencoded", Origin: server.url },
        body: new URLSearchParams(form).toString(),
      });
      expect(res.status).toBe(400);
    }
  });

  it("10 parallel checkouts with the same token give one session", async () => {
    const { client } = await customer();
    const answers = await Promise.all(Array.from({ length: 10 }, () => postJson(client, "/api/stripe/checkout", { plan: "starter", token: "same-token-123" })));
    const ids = await Promise.all(answers.map(async (r) => (expect(r.status).toBe(200), ((await r.json()) as { id: string }).id)));
    expect(new Set(ids).size).toBe(1);
    const other = await startPlanCheckout(client, "starter", "another-token");
    expect(other.id).not.toBe(ids[0]);
  });

  it("refuses an account on hold (403 account_on_hold)", async () => {
    const { client, userId } = await customer();
    await db.run("update users set flagged_at = ?, flagged_reason = 'test' where id = ?", [Date.now(), userId]);
    const res = await postJson(client, "/api/stripe/checkout", { plan: "starter" });
    expect(res.status).toBe(403);
    expect(((await res.json()) as { error: string }).error).toBe("account_on_hold");
  });

  it("refuses a second plan while one is active (409 already_subscribed), even before its webhooks arrive", async () => {
    const { client } = await customer();
    const { events } = await subscribe(client);
    // Nothing delivered yet: Stripe says the subscription is active.
    let res = await postJson(client, "/api/stripe/checkout", { plan: "basic" });
    expect(res.status).toBe(409);
    expect(((await res.json()) as { error: string }).error).toBe("already_subscribed");
    await deliverAll(events);
    res = await postJson(client, "/api/stripe/checkout", { plan: "starter" });
    expect(res.status).toBe(409);
    // A form post is told so on the billing page.
    const form = await client.post("/api/stripe/checkout", { plan: "basic" });
    expect(form.status).toBe(303);
    expect(form.headers.get("location")).toBe("/settings/billing");
  });
});

describe("plan checkouts from several tabs", () => {
  const statusAtStripe = async (id: string) => (await stripe.checkout.sessions.retrieve(id)).status;

  it("a second tab's checkout expires the first, so only one can be paid", async () => {
    const { client } = await customer();
    const first = await startPlanCheckout(client, "starter", "tab-one-token-000001");
    expect(await statusAtStripe(first.id)).toBe("open");
    const second = await startPlanCheckout(client, "basic", "tab-two-token-000002");
    expect(await statusAtStripe(first.id)).toBe("expired");
    expect(await statusAtStripe(second.id)).toBe("open");
    // The expired one cannot be paid; the open one can, once.
    await fetch(`${emulator.url}/__emulator/checkout/sessions/${first.id}/pay`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ outcome: "paid" }),
    });
    expect(await statusAtStripe(first.id)).toBe("expired");
    expect((await stripe.subscriptions.list({ customer: String((await stripe.checkout.sessions.retrieve(second.id)).customer) })).data).toHaveLength(0);
    await driver(`/checkout/sessions/${second.id}/pay`, { outcome: "paid" });
    expect(await statusAtStripe(second.id)).toBe("complete");
  });

  it("eight plan checkouts at once from one user leave exactly one open", async () => {
    const { client } = await customer();
    const started = await Promise.all(
      Array.from({ length: 8 }, async (_, i) => await startPlanCheckout(client, i % 2 ? "basic" : "starter", `parallel-tab-token-${String(i).padStart(4, "0")}`)),
    );
    expect(new Set(started.map((s) => s.id)).size).toBe(8);
    const statuses = await Promise.all(started.map(async (s) => await statusAtStripe(s.id)));
    expect(statuses.filter((s) => s === "open")).toHaveLength(1);
    expect(statuses.filter((s) => s === "expired")).toHaveLength(7);
  });

  it("a pack checkout is left alone: only plan checkouts compete", async () => {
    const { client } = await customer();
    const pack = await postJson(client, "/api/stripe/checkout", { pack: "default" });
    expect(pack.status, await pack.clone().text()).toBe(200);
    const { id: packSession } = (await pack.json()) as { id: string };
    await startPlanCheckout(client, "starter", "plan-after-pack-000001");
    expect(await statusAtStripe(packSession)).toBe("open");
  });
});

describe("plan credits from paid invoices", () => {
  it("grants once per paid invoice, whatever is replayed, duplicated or resent; invoice.payment_succeeded adds nothing", async () => {
    const { client, userId } = await customer();
    const { subscriptionId, invoiceId, events } = await subscribe(client);
    const outcomes = await deliverAll(events);
    expect(outcomes.find((o) => o.type === "invoice.paid")?.outcome).toBe("processed");
    expect(outcomes.find((o) => o.type === "invoice.payment_succeeded")?.outcome).toBe("ignored");
    expect(await balanceOf(client)).toBe(1000);
    // The same event again, twice in parallel, and a fresh copy under another event id.
    const paid = ofType(events, "invoice.paid")[0]!;
    const again = await Promise.all([deliver(paid), deliver(paid)]);
    expect(again.map((a) => a.outcome)).toEqual(["duplicate", "duplicate"]);
    await deliver({ ...paid, id: `${paid.id}_copy` });
    // The emulator's own resend, through the relay.
    forwardTo = `${server.url}/api/stripe/webhook`;
    try {
      await fetch(`${emulator.url}/__emulator/events/${paid.id}/resend`, { method: "POST" });
      await expect.poll(() => relayed.includes(paid.id), { timeout: 10_000 }).toBe(true);
    } finally {
      forwardTo = null;
    }
    expect(await balanceOf(client)).toBe(1000);
    const plans = (await rowsOf(userId)).filter((r) => r.type === "plan");
    expect(plans).toHaveLength(1);
    expect(plans[0]!.key).toBe(`invoice:${invoiceId}`);
    const { paymentIntentId } = await paymentOfInvoice(invoiceId);
    expect(plans[0]!.stripePaymentId).toBe(paymentIntentId);
    const sub = await stripe.subscriptions.retrieve(subscriptionId);
    const item = sub.items.data[0]!;
    expect(plans[0]!.expiresAt).toBe(item.current_period_end * 1000);
    const periods = await periodRows(subscriptionId);
    expect(periods).toMatchObject([
      { invoice_id: invoiceId, status: "paid", period_start: item.current_period_start * 1000, period_end: item.current_period_end * 1000, tx_id: plans[0]!.id, payment_intent_id: paymentIntentId, amount_paid: 1000 },
    ]);
    expect(await subscriptionRow(subscriptionId)).toMatchObject({ status: "active", plan_id: "starter", user_id: userId, cancel_at_period_end: 0 });
    expect(await ledgerViolations()).toEqual([]);
  });

  it("the success page grants the first period before any webhook; the webhooks then add nothing", async () => {
    const { client, userId } = await customer();
    await newEvents();
    const { id } = await startPlanCheckout(client, "basic");
    const session = await stripe.checkout.sessions.retrieve(id);
    expect(session.success_url).toBe(`${server.url}/settings/billing/success?session_id={CHECKOUT_SESSION_ID}`);
    // Before paying: nothing to grant yet.
    const early = await client.get(`/settings/billing/success?session_id=${id}`);
    expect(early.status).toBe(303);
    expect(await balanceOf(client)).toBe(0);
    await driver(`/checkout/sessions/${id}/pay`, { outcome: "paid" });
    const back = await Promise.all([1, 2, 3].map(() => client.get(`/settings/billing/success?session_id=${id}`)));
    // On to the plan section, which waits for the subscription's own webhooks.
    expect(back.map((r) => r.headers.get("location"))).toEqual(Array(3).fill("/settings/billing?subscribed=1"));
    expect(await balanceOf(client)).toBe(200);
    const outcomes = await deliverAll(await newEvents());
    expect(outcomes.find((o) => o.type === "checkout.session.completed")?.outcome).toBe("processed");
    expect(await balanceOf(client)).toBe(200);
    expect((await rowsOf(userId)).map((r) => [r.type, r.amount])).toEqual([["plan", 200]]);
    // Another account cannot use the session.
    const { client: stranger } = await customer();
    await stranger.get(`/settings/billing/success?session_id=${id}`);
    expect(await balanceOf(stranger)).toBe(0);
    expect(await ledgerViolations()).toEqual([]);
  });

  it("renewal closes the first period: the rest expires and up to the cap rolls over; reordered events change nothing", async () => {
    const { client, userId } = await customer();
    const { subscriptionId, events } = await subscribe(client);
    await deliverAll(events);
    await spendOnServer(userId, 400, "spent on images");
    expect(await balanceOf(client)).toBe(600);
    const renewal = await advance(subscriptionId);
    // invoice.paid first, the subscription's update last: the order must not matter.
    const paid = ofType(renewal.events, "invoice.paid");
    await deliverAll([...paid, ...renewal.events.filter((e) => e.type !== "invoice.paid")]);
    // 1000 new + min(600, 300) rolled over; 600 expired.
    expect(await balanceOf(client)).toBe(1300);
    const rows = await rowsOf(userId);
    const invoiceId = renewal.invoice!.id;
    const line = renewal.invoice!.lines.data[0]!;
    expect(rows.filter((r) => r.type === "expire").map((r) => r.amount)).toEqual([-600]);
    const rollover = rows.find((r) => r.key === `rollover:${invoiceId}`)!;
    expect(rollover).toMatchObject({ type: "plan", amount: 300, expiresAt: line.period.end * 1000, stripePaymentId: null });
    const renewed = rows.find((r) => r.key === `invoice:${invoiceId}`)!;
    expect(renewed).toMatchObject({ amount: 1000, expiresAt: line.period.end * 1000 });
    // The first period's grant is closed, with nothing left.
    const first = rows.find((r) => r.type === "plan" && r.key !== renewed.key && r.key !== rollover.key)!;
    expect(first.closedAt).not.toBeNull();
    expect(first.remaining).toBe(0);
    // Replays of the renewal change nothing.
    await deliverAll(paid);
    await deliver({ ...paid[0]!, id: `${paid[0]!.id}_again` });
    expect(await balanceOf(client)).toBe(1300);
    expect((await periodRows(subscriptionId)).map((p) => p.status)).toEqual(["paid", "paid"]);
    expect((await subscriptionRow(subscriptionId))?.current_period_end).toBe(line.period.end * 1000);
    // The next renewal closes both the second period and what rolled into it, capped again.
    const third = await advance(subscriptionId);
    await deliverAll(third.events);
    expect(await balanceOf(client)).toBe(1300);
    expect((await rowsOf(userId)).filter((r) => r.type === "expire").map((r) => r.amount)).toEqual([-600, -1000, -300]);
    expect(await ledgerViolations()).toEqual([]);
  });

  it("copies of one invoice.paid under many event ids, in parallel, grant once", async () => {
    const { client, userId } = await customer();
    const { events } = await subscribe(client);
    const paid = ofType(events, "invoice.paid")[0]!;
    const answers = await Promise.all(Array.from({ length: 10 }, async (_, i) => await deliver({ ...paid, id: `${paid.id}_parallel_${i}` })));
    expect(answers.every((a) => a.outcome === "processed")).toBe(true);
    expect(await balanceOf(client)).toBe(1000);
    expect((await rowsOf(userId)).filter((r) => r.type === "plan")).toHaveLength(1);
    expect(await ledgerViolations()).toEqual([]);
  });

  it("a plan change counts from the invoice that bills the new price; credits granted stay", async () => {
    const { client, userId } = await customer();
    const { subscriptionId, events } = await subscribe(client, "starter");
    await deliverAll(events);
    const sub = await stripe.subscriptions.retrieve(subscriptionId);
    await stripe.subscriptions.update(subscriptionId, { items: [{ id: sub.items.data[0]!.id, price: "price_plan_basic" }], proration_behavior: "none" });
    await deliverAll(await newEvents());
    expect((await subscriptionRow(subscriptionId))?.plan_id).toBe("basic");
    expect(await balanceOf(client)).toBe(1000);
    const renewal = await advance(subscriptionId);
    await deliverAll(renewal.events);
    // Basic grants 200 and has no rolloverCap: the starter period's 1000 expire.
    expect(await balanceOf(client)).toBe(200);
    expect((await rowsOf(userId)).map((r) => [r.type, r.amount])).toEqual([["plan", 1000], ["plan", 200], ["expire", -1000]]);
    expect(await ledgerViolations()).toEqual([]);
  });

  it("a plan without rolloverCap expires the whole rest at renewal", async () => {
    const { client, userId } = await customer();
    const { subscriptionId, events } = await subscribe(client, "basic");
    await deliverAll(events);
    await spendOnServer(userId, 50, "one video");
    const renewal = await advance(subscriptionId);
    await deliverAll(renewal.events);
    expect(await balanceOf(client)).toBe(200);
    const rows = await rowsOf(userId);
    expect(rows.filter((r) => r.type === "expire").map((r) => r.amount)).toEqual([-150]);
    expect(rows.filter((r) => r.key.startsWith("rollover:"))).toHaveLength(0);
    expect(await ledgerViolations()).toEqual([]);
  });

  it("a late older invoice, paid after a newer period was granted, extends nothing: its credits are closed at once", async () => {
    const { client, userId } = await customer();
    const first = await subscribe(client);
    // Only the subscription's creation arrives; what grants the first invoice is held back.
    const grantsFirst = (e: Stripe.Event) => e.type === "invoice.paid" || e.type === "checkout.session.completed";
    await deliverAll(first.events.filter((e) => !grantsFirst(e)));
    const renewal = await advance(first.subscriptionId);
    await deliverAll(renewal.events);
    expect(await balanceOf(client)).toBe(1000);
    await deliverAll(first.events.filter(grantsFirst));
    expect(await balanceOf(client)).toBe(1000);
    const late = (await rowsOf(userId)).find((r) => r.key === `invoice:${first.invoiceId}`)!;
    expect(late.amount).toBe(1000);
    expect(late.closedAt).not.toBeNull();
    expect((await rowsOf(userId)).filter((r) => r.type === "expire").map((r) => r.amount)).toEqual([-1000]);
    expect(JSON.parse(late.meta!)).toMatchObject({ supersededBy: renewal.invoice!.id });
    expect(await ledgerViolations()).toEqual([]);
  });
});

describe("the subscription row and cancellation", () => {
  it("follows created, updated (cancel at period end) and deleted; an older event delivered late changes nothing; then nothing more is granted", async () => {
    const { client, userId } = await customer();
    const { subscriptionId, events } = await subscribe(client);
    await deliverAll(events);
    const created = ofType(events, "customer.subscription.created")[0]!;
    // A pack bought in between never expires.
    await newEvents();
    const pack = await postJson(client, "/api/stripe/checkout", { pack: "default" });
    const packSession = ((await pack.json()) as { id: string }).id;
    await driver(`/checkout/sessions/${packSession}/pay`, { outcome: "paid" });
    await deliverAll(await newEvents());
    expect(await balanceOf(client)).toBe(1500);

    await stripe.subscriptions.update(subscriptionId, { cancel_at_period_end: true });
    const cancelEvents = await newEvents();
    await deliverAll(cancelEvents);
    const afterCancel = (await subscriptionRow(subscriptionId))!;
    expect(afterCancel).toMatchObject({ status: "active", cancel_at_period_end: 1 });
    // The creation event again, later, and one claiming to be older than everything: no change.
    expect((await deliver({ ...created, id: `${created.id}_late`, created: created.created - 3600 })).outcome).toBe("processed");
    expect(await subscriptionRow(subscriptionId)).toMatchObject({ cancel_at_period_end: 1, stripe_event_created: afterCancel.stripe_event_created });

    const end = await advance(subscriptionId);
    expect(end.invoice).toBeNull();
    expect(end.events.map((e) => e.type)).toContain("customer.subscription.deleted");
    await deliverAll(end.events);
    const row = (await subscriptionRow(subscriptionId))!;
    expect(row.status).toBe("canceled");
    expect(row.ended_at).not.toBeNull();
    // The test clock refuses to advance a canceled subscription: no invoice, no credits.
    const refused = await fetch(`${emulator.url}/__emulator/subscriptions/${subscriptionId}/advance`, { method: "POST", headers: { "Content-Type": "application/json" }, body: "{}" });
    expect(refused.status).toBe(400);
    // A replay of the first invoice.paid after the end grants nothing more either.
    await deliver({ ...ofType(events, "invoice.paid")[0]!, id: `evt_replay_after_end_${userId}` });
    expect(await balanceOf(client)).toBe(1500);
    const packRow = (await rowsOf(userId)).find((r) => r.type === "purchase")!;
    expect(packRow).toMatchObject({ amount: 500, expiresAt: null, closedAt: null });
    // A canceled subscription no longer blocks a new plan.
    expect((await postJson(client, "/api/stripe/checkout", { plan: "basic" })).status).toBe(200);
    expect(await ledgerViolations()).toEqual([]);
  });

  it("DELETE cancels at once: the row says canceled and the paid period's credits stay until its end", async () => {
    const { client, userId } = await customer();
    const { subscriptionId, events } = await subscribe(client, "basic");
    await deliverAll(events);
    await stripe.subscriptions.cancel(subscriptionId);
    await deliverAll(await newEvents());
    expect(await subscriptionRow(subscriptionId)).toMatchObject({ status: "canceled" });
    expect(await balanceOf(client)).toBe(200);
    expect((await rowsOf(userId)).filter((r) => r.type === "expire")).toHaveLength(0);
    expect(await ledgerViolations()).toEqual([]);
  });
});

describe("failed payments", () => {
  it("payment_failed grants nothing, records the period as failed and mails a link to billing; the next paid invoice grants", async () => {
    const { client, userId, email } = await customer();
    const { subscriptionId, events } = await subscribe(client);
    await deliverAll(events);
    const failed = await advance(subscriptionId, "payment_failed");
    await deliverAll(failed.events);
    await deliverAll(ofType(failed.events, "invoice.payment_failed"));
    expect(await balanceOf(client)).toBe(1000);
    expect((await rowsOf(userId)).map((r) => r.type)).toEqual(["plan"]);
    const periods = await periodRows(subscriptionId);
    expect(periods.map((p) => [p.invoice_id, p.status, p.tx_id])).toEqual([
      [periods[0]!.invoice_id, "paid", expect.any(Number)],
      [failed.invoice!.id, "failed", null],
    ]);
    expect((await subscriptionRow(subscriptionId))?.status).toBe("past_due");
    const mails = await db.all<{ text: string }>(`select kind, text_body as "text" from mail_queue where to_address = ? and kind = 'plan_payment_failed'`, [email]);
    expect(mails).toHaveLength(1);
    expect(mails[0]!.text).toContain(`${server.url}/settings/billing`);
    const plans = { plans: PLANS.map((p) => ({ ...p, rolloverCap: p.rolloverCap ?? 0 })) };
    const failedView = await subscriptionView(plans, userId);
    expect(failedView).toMatchObject({
      subscription: { id: subscriptionId, planId: "starter", planName: "Starter", status: "past_due", cancelAtPeriodEnd: false },
      lastFailedInvoice: { invoiceId: failed.invoice!.id, at: expect.any(Number) },
    });
    expect(failedView.periods.map((p) => [p.invoiceId, p.status])).toEqual([[failed.invoice!.id, "failed"], [periods[0]!.invoice_id, "paid"]]);

    const paid = await advance(subscriptionId, "paid");
    await deliverAll(paid.events);
    expect((await subscriptionRow(subscriptionId))?.status).toBe("active");
    // The first period (never closed by the failed renewal) closes now: its 1000 expire, 300 roll over.
    expect(await balanceOf(client)).toBe(1300);
    expect((await periodRows(subscriptionId)).map((p) => p.status)).toEqual(["paid", "failed", "paid"]);
    const paidView = await subscriptionView(plans, userId);
    expect(paidView.lastFailedInvoice).toBeNull();
    expect(paidView.subscription).toMatchObject({ status: "active", currentPeriodEnd: paid.invoice!.lines.data[0]!.period.end * 1000 });
    expect(paidView.periods).toHaveLength(3);
    expect(await ledgerViolations()).toEqual([]);
  });
});

describe("with the emulator delivering on its own (Stripe's order and timing)", () => {
  async function settled() {
    await expect
      .poll(async () => {
        const res = await fetch(`${emulator.url}/__emulator/events?limit=100`);
        const { data } = (await res.json()) as { data: Array<{ delivery: { status: string } }> };
        return data.filter((d) => d.delivery.status === "pending").length;
      }, { timeout: 20_000 })
      .toBe(0);
  }

  it("subscribe, renew, fail, renew, cancel: the credits and the row follow, the ledger stays clean", async () => {
    const { client, userId } = await customer();
    await newEvents();
    forwardTo = `${server.url}/api/stripe/webhook`;
    try {
      const { id } = await startPlanCheckout(client, "starter");
      const session = (await driver(`/checkout/sessions/${id}/pay`, { outcome: "paid" })) as unknown as Stripe.Checkout.Session;
      const subscriptionId = String(session.subscription);
      await settled();
      expect(await balanceOf(client)).toBe(1000);
      await spendOnServer(userId, 100, "spent");
      await driver(`/subscriptions/${subscriptionId}/advance`, { outcome: "paid" });
      await settled();
      expect(await balanceOf(client)).toBe(1300);
      await driver(`/subscriptions/${subscriptionId}/advance`, { outcome: "payment_failed" });
      await settled();
      expect((await subscriptionRow(subscriptionId))?.status).toBe("past_due");
      expect(await balanceOf(client)).toBe(1300);
      await driver(`/subscriptions/${subscriptionId}/advance`, { outcome: "paid" });
      await settled();
      // Period 2 (1000) and what rolled into it (300) close: 300 of their 1300 roll over.
      expect(await balanceOf(client)).toBe(1300);
      expect((await subscriptionRow(subscriptionId))?.status).toBe("active");
      await stripe.subscriptions.update(subscriptionId, { cancel_at_period_end: true });
      await driver(`/subscriptions/${subscriptionId}/advance`, {});
      await settled();
      expect(await subscriptionRow(subscriptionId)).toMatchObject({ status: "canceled", cancel_at_period_end: 1 });
      expect(await balanceOf(client)).toBe(1300);
      expect((await periodRows(subscriptionId)).map((p) => p.status)).toEqual(["paid", "paid", "failed", "paid"]);
      expect((await rowsOf(userId)).filter((r) => r.type === "expire").map((r) => r.amount)).toEqual([-900, -1000, -300]);
      expect(await ledgerViolations()).toEqual([]);
    } finally {
      forwardTo = null;
      await newEvents();
    }
  });
});

describe("refunds and disputes of an invoice", () => {
  it("a refund of the invoice's charge takes back its share, never more than the period's grant has left", async () => {
    const { client, userId } = await customer();
    const { invoiceId, events } = await subscribe(client);
    await deliverAll(events);
    const { paymentIntentId } = await paymentOfInvoice(invoiceId);
    await stripe.refunds.create({ payment_intent: paymentIntentId, amount: 300 });
    await deliverAll(await newEvents());
    expect(await balanceOf(client)).toBe(700);
    await spendOnServer(userId, 600, "spent");
    await stripe.refunds.create({ payment_intent: paymentIntentId, amount: 700 });
    const refundEvents = await newEvents();
    await deliverAll(refundEvents);
    await deliverAll(ofType(refundEvents, "charge.refunded"));
    // 1000 credits: 300 taken, 600 spent, only 100 left to take although the rest was refunded.
    expect(await balanceOf(client)).toBe(0);
    const refunds = (await rowsOf(userId)).filter((r) => r.type === "refund");
    expect(refunds.map((r) => [r.amount, r.stripePaymentId])).toEqual([[-300, paymentIntentId], [-100, paymentIntentId]]);
    expect(await db.get("select count(*) as n from credit_grants where user_id = ? and kind = 'debt'", [userId])).toEqual({ n: 0 });
    expect(await ledgerViolations()).toEqual([]);
  });

  it("a refund that arrives before invoice.paid grants the period first, then takes back", async () => {
    const { client, userId } = await customer();
    const { invoiceId, events } = await subscribe(client);
    const grantsFirst = (e: Stripe.Event) => e.type === "invoice.paid" || e.type === "checkout.session.completed";
    await deliverAll(events.filter((e) => !grantsFirst(e)));
    expect(await balanceOf(client)).toBe(0);
    const { paymentIntentId } = await paymentOfInvoice(invoiceId);
    await stripe.refunds.create({ payment_intent: paymentIntentId });
    await deliverAll(await newEvents());
    expect(await balanceOf(client)).toBe(0);
    await deliverAll(events.filter(grantsFirst));
    expect(await balanceOf(client)).toBe(0);
    expect((await rowsOf(userId)).map((r) => [r.type, r.amount])).toEqual([["plan", 1000], ["refund", -1000]]);
    expect(await ledgerViolations()).toEqual([]);
  });

  it("a dispute of the invoice's charge takes back what is left and holds the account; won gives it back", async () => {
    const { client, userId } = await customer();
    const { invoiceId, events } = await subscribe(client);
    await deliverAll(events);
    await spendOnServer(userId, 250, "spent");
    const { chargeId } = await paymentOfInvoice(invoiceId);
    const dispute = await driver(`/charges/${chargeId}/disputes`, { reason: "fraudulent" });
    await deliverAll(await newEvents());
    expect(await balanceOf(client)).toBe(0);
    expect((await postJson(client, "/api/stripe/checkout", { pack: "default" })).status).toBe(403);
    await driver(`/disputes/${String(dispute.id)}/close`, { status: "won" });
    await deliverAll(await newEvents());
    expect(await balanceOf(client)).toBe(750);
    expect((await rowsOf(userId)).filter((r) => r.type === "refund").map((r) => r.amount)).toEqual([-750, 750]);
    expect(await ledgerViolations()).toEqual([]);
  });

  it("an invoice of a subscription that is not the app's is acknowledged and ignored", async () => {
    const { userId } = await customer();
    const other = await stripe.customers.create({ email: "other-product@example.com" });
    const sessions = await stripe.checkout.sessions.create({
      mode: "subscription",
      customer: other.id,
      line_items: [{ price: "price_plan_starter", quantity: 1 }],
      // Another product's subscription that even names one of our users.
      subscription_data: { metadata: { userId: String(userId) } },
      success_url: "https://other.example/ok",
    });
    // And one that carries our marker and user, on a customer that is not that user's.
    const forged = await stripe.checkout.sessions.create({
      mode: "subscription",
      customer: other.id,
      line_items: [{ price: "price_plan_basic", quantity: 1 }],
      subscription_data: { metadata: { app: "credits", userId: String(userId), plan: "basic" } },
      success_url: "https://other.example/ok",
    });
    await newEvents();
    await driver(`/checkout/sessions/${sessions.id}/pay`, { outcome: "paid" });
    await driver(`/checkout/sessions/${forged.id}/pay`, { outcome: "paid" });
    const outcomes = await deliverAll(await newEvents());
    const billing = outcomes.filter((o) => o.type.startsWith("invoice.") || o.type.startsWith("customer.subscription") || o.type === "checkout.session.completed");
    expect(billing.length).toBeGreaterThanOrEqual(8);
    expect(billing.filter((o) => o.outcome !== "ignored")).toEqual([]);
    expect(await rowsOf(userId)).toEqual([]);
    expect(await db.get("select count(*) as n from subscriptions where user_id = ?", [userId])).toEqual({ n: 0 });
    expect(await ledgerViolations()).toEqual([]);
  });
});
