// Stripe's webhook events, fulfilment and the start of a checkout on the executor (decision 036),
// on SQLite and a real PostgreSQL. The rule: a paid purchase is granted exactly once, whatever
// the replays, the parallel deliveries and the success page racing them.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type Stripe from "stripe";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeEngines, ENGINES, insertUserOn, type EngineDb } from "../../../tests/support/engines";
import type { User } from "../../../db/schema";
import { parseEnv, type Config } from "../env.server";
import { createCheckoutSession, ensureStripeCustomer } from "./checkout.server";
import { fulfillCheckout } from "./fulfilment.server";
import { readBalance } from "./ledger.server";
import { checkoutMetadata } from "./pricing.server";
import { handleStripeEvent } from "./webhook-events.server";

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "webhooks-both-"));
const config: Config = parseEnv({ DATA_DIR: dataDir, RATE_LIMIT_DISABLED: "1" });
const pack = config.packs[0]!;

afterAll(async () => {
  await closeEngines();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

type Fake = {
  stripe: Stripe;
  sessions: Map<string, Stripe.Checkout.Session>;
  paymentMethods: Map<string, Stripe.PaymentMethod>;
  calls: Record<string, number>;
};

/** Just the Stripe calls these paths make, answered after a random few milliseconds (so parallel
 * deliveries interleave as real ones do). */
function fakeStripe(): Fake {
  const sessions = new Map<string, Stripe.Checkout.Session>();
  const paymentMethods = new Map<string, Stripe.PaymentMethod>();
  const calls: Record<string, number> = {};
  const later = async <T>(name: string, value: () => T): Promise<T> => {
    calls[name] = (calls[name] ?? 0) + 1;
    await new Promise((r) => setTimeout(r, Math.random() * 4));
    return value();
  };
  const found = <T>(map: Map<string, T>, id: string) => {
    const v = map.get(id);
    if (!v) throw Object.assign(new Error(`No such object: ${id}`), { type: "StripeInvalidRequestError", code: "resource_missing" });
    return structuredClone(v);
  };
  const stripe = {
    checkout: {
      sessions: {
        retrieve: (id: string) => later("sessions.retrieve", () => found(sessions, id)),
        create: (params: Record<string, unknown>, options: { idempotencyKey: string }) =>
          later("sessions.create", () => ({ id: `cs_${options.idempotencyKey.replace(/[^A-Za-z0-9]/g, "_")}`, url: "https://checkout.example/pay", amount_total: 500, currency: "usd", ...params })),
      },
    },
    customers: { create: () => later("customers.create", () => ({ id: `cus_fake_${++customers}_${Math.random().toString(36).slice(2)}` })) },
    paymentMethods: { retrieve: (id: string) => later("paymentMethods.retrieve", () => found(paymentMethods, id)) },
  } as unknown as Stripe;
  return { stripe, sessions, paymentMethods, calls };
}

function paidSession(id: string, userId: number, over: Partial<Stripe.Checkout.Session> = {}): Stripe.Checkout.Session {
  return {
    id,
    object: "checkout.session",
    mode: "payment",
    status: "complete",
    payment_status: "paid",
    client_reference_id: String(userId),
    metadata: checkoutMetadata(userId, pack),
    payment_intent: `pi_${id}`,
    amount_total: 500,
    currency: "usd",
    line_items: { object: "list", data: [], has_more: false, url: "" },
    ...over,
  } as unknown as Stripe.Checkout.Session;
}

let eventSeq = 0;
let customers = 0;
function eventOf(type: string, object: { id: string; mode?: string | null }, id = `evt_${++eventSeq}_${Math.random().toString(36).slice(2)}`): Stripe.Event {
  return { id, object: "event", type, created: 1_780_000_000, data: { object } } as unknown as Stripe.Event;
}

describe.each(ENGINES)("webhook events and fulfilment on $name", (engine) => {
  let db: EngineDb;
  let n = 0;
  const user = () => insertUserOn(db, `hooks-${++n}-${engine.name.toLowerCase()}@example.com`);
  const purchasesOf = async (userId: number) =>
    (await db.sql.get<{ rows: number; credits: number }>(`SELECT count(*) AS "rows", coalesce(sum(amount), 0) AS credits FROM transactions WHERE user_id = ? AND type = 'purchase'`, [userId]))!;
  const eventRow = (id: string) =>
    db.sql.get<{ attempts: number; processedAt: number | null; outcome: string | null; error: string | null }>(
      `SELECT attempts, processed_at AS "processedAt", outcome, error FROM stripe_events WHERE id = ?`,
      [id],
    );
  const attemptStatus = async (sessionId: string) =>
    (await db.sql.get<{ status: string }>("SELECT status FROM checkout_attempts WHERE session_id = ?", [sessionId]))?.status;
  const started = (sessionId: string, userId: number) =>
    db.sql.run("INSERT INTO checkout_attempts (session_id, user_id, pack, credits) VALUES (?, ?, ?, ?)", [sessionId, userId, pack.id, pack.credits]);

  beforeAll(async () => {
    db = await engine.open();
  }, 60_000);

  it("20 parallel deliveries of one checkout.session.completed grant once", async () => {
    const fake = fakeStripe();
    const userId = await user();
    fake.sessions.set("cs_par20", paidSession("cs_par20", userId));
    await started("cs_par20", userId);
    const event = eventOf("checkout.session.completed", { id: "cs_par20", mode: "payment" }, `evt_par20_${engine.name}`);
    const outcomes = await Promise.all(Array.from({ length: 20 }, () => handleStripeEvent(db, fake.stripe, config, structuredClone(event))));
    expect(outcomes.filter((o) => o === "processed").length).toBe(1);
    expect(outcomes.filter((o) => o === "duplicate").length).toBe(19);
    expect(await purchasesOf(userId)).toEqual({ rows: 1, credits: pack.credits });
    expect((await readBalance(db, userId)).balance).toBe(pack.credits);
    expect(await eventRow(event.id)).toEqual({ attempts: 20, processedAt: expect.any(Number), outcome: "processed", error: null });
    expect(await attemptStatus("cs_par20")).toBe("paid");
    // A later replay changes nothing but the count.
    expect(await handleStripeEvent(db, fake.stripe, config, event)).toBe("duplicate");
    expect(await purchasesOf(userId)).toEqual({ rows: 1, credits: pack.credits });
    expect((await eventRow(event.id))!.attempts).toBe(21);
  });

  it("different events about one session and the success page, 30 at once, grant once", async () => {
    const fake = fakeStripe();
    const userId = await user();
    fake.sessions.set("cs_mix", paidSession("cs_mix", userId));
    const calls = [
      ...Array.from({ length: 10 }, () => handleStripeEvent(db, fake.stripe, config, eventOf("checkout.session.completed", { id: "cs_mix", mode: "payment" }))),
      ...Array.from({ length: 10 }, () => handleStripeEvent(db, fake.stripe, config, eventOf("checkout.session.async_payment_succeeded", { id: "cs_mix", mode: "payment" }))),
      ...Array.from({ length: 10 }, () => fulfillCheckout(db, fake.stripe, config, "cs_mix")),
    ];
    const results = await Promise.all(calls);
    expect(results.slice(0, 20).every((r) => r === "processed")).toBe(true);
    const pages = results.slice(20) as Array<{ status: string; userId: number | null; credits: number }>;
    expect(pages.every((r) => (r.status === "granted" || r.status === "already_granted") && r.userId === userId && r.credits === pack.credits)).toBe(true);
    expect(await purchasesOf(userId)).toEqual({ rows: 1, credits: pack.credits });
    expect((await readBalance(db, userId)).balance).toBe(pack.credits);
  });

  it("the success page alone: granted, then already_granted", async () => {
    const fake = fakeStripe();
    const userId = await user();
    fake.sessions.set("cs_page", paidSession("cs_page", userId));
    const first = await fulfillCheckout(db, fake.stripe, config, "cs_page");
    expect(first).toMatchObject({ status: "granted", userId, credits: pack.credits });
    expect(await fulfillCheckout(db, fake.stripe, config, "cs_page")).toMatchObject({ status: "already_granted", userId, credits: pack.credits });
    expect(await purchasesOf(userId)).toEqual({ rows: 1, credits: pack.credits });
  });

  it("an unpaid session grants nothing: processing, then failed or expired, and a late payment still grants once", async () => {
    const fake = fakeStripe();
    const userId = await user();
    fake.sessions.set("cs_slow", paidSession("cs_slow", userId, { payment_status: "unpaid" }));
    await started("cs_slow", userId);
    expect(await handleStripeEvent(db, fake.stripe, config, eventOf("checkout.session.completed", { id: "cs_slow", mode: "payment" }))).toBe("processed");
    expect(await attemptStatus("cs_slow")).toBe("processing");
    expect(await fulfillCheckout(db, fake.stripe, config, "cs_slow")).toEqual({ status: "awaiting_payment", userId, credits: 0 });
    expect(await handleStripeEvent(db, fake.stripe, config, eventOf("checkout.session.async_payment_failed", { id: "cs_slow", mode: "payment" }))).toBe("processed");
    expect(await attemptStatus("cs_slow")).toBe("failed");
    expect(await purchasesOf(userId)).toEqual({ rows: 0, credits: 0 });
    // Stripe's word on a payment wins over an earlier failure.
    fake.sessions.set("cs_slow", paidSession("cs_slow", userId));
    expect(await handleStripeEvent(db, fake.stripe, config, eventOf("checkout.session.async_payment_succeeded", { id: "cs_slow", mode: "payment" }))).toBe("processed");
    expect(await attemptStatus("cs_slow")).toBe("paid");
    expect(await purchasesOf(userId)).toEqual({ rows: 1, credits: pack.credits });

    fake.sessions.set("cs_gone", paidSession("cs_gone", userId, { payment_status: "unpaid", status: "expired" }));
    await started("cs_gone", userId);
    expect(await fulfillCheckout(db, fake.stripe, config, "cs_gone")).toEqual({ status: "expired", userId, credits: 0 });
    expect(await attemptStatus("cs_gone")).toBe("expired");
    expect(await handleStripeEvent(db, fake.stripe, config, eventOf("checkout.session.expired", { id: "cs_gone", mode: "payment" }))).toBe("processed");
    expect(await purchasesOf(userId)).toEqual({ rows: 1, credits: pack.credits });
  });

  it("sessions that are not this app's grant nothing (hostile or stray metadata)", async () => {
    const fake = fakeStripe();
    const userId = await user();
    const hostile: Array<[string, Partial<Stripe.Checkout.Session>]> = [
      ["no user", { client_reference_id: null, metadata: {} }],
      ["a user that does not exist", { client_reference_id: "999999999", metadata: { ...checkoutMetadata(999_999_999, pack) } }],
      ["a negative user", { client_reference_id: "-1", metadata: { ...checkoutMetadata(userId, pack), userId: "-1" } }],
      ["a user id past 2^53", { client_reference_id: "9007199254740993", metadata: { ...checkoutMetadata(userId, pack), userId: "9007199254740993" } }],
      ["not a number", { client_reference_id: "1 OR 1=1", metadata: { ...checkoutMetadata(userId, pack), userId: "1; DROP TABLE users" } }],
      ["a setup-free subscription mode is not a pack", { mode: "subscription" as const }],
    ];
    for (const [what, over] of hostile) {
      const id = `cs_hostile_${what.replace(/\W/g, "_")}`;
      fake.sessions.set(id, paidSession(id, userId, over));
      const event = eventOf("checkout.session.completed", { id, mode: "payment" });
      if (over.mode === "subscription") {
        // A plan's session: plan-invoices.server.ts grants it from its invoice, and this one has none.
        expect(await handleStripeEvent(db, fake.stripe, config, event), what).toBe("ignored");
        continue;
      }
      expect(await handleStripeEvent(db, fake.stripe, config, event), what).toBe("processed");
      expect(await fulfillCheckout(db, fake.stripe, config, id), what).toMatchObject({ status: "not_ours", credits: 0 });
    }
    expect(await purchasesOf(userId)).toEqual({ rows: 0, credits: 0 });
    expect((await db.sql.get<{ n: number }>("SELECT count(*) AS n FROM users"))!.n).toBeGreaterThan(0);
  });

  it("a failed reaction rolls back, records the error and is processed when Stripe retries", async () => {
    const fake = fakeStripe();
    const userId = await user();
    // Paid but maps to no pack: the grant refuses, so the whole body rolls back.
    fake.sessions.set("cs_broken", paidSession("cs_broken", userId, { metadata: { userId: String(userId), pack: "nope" } }));
    await started("cs_broken", userId);
    const event = eventOf("checkout.session.completed", { id: "cs_broken", mode: "payment" });
    await expect(handleStripeEvent(db, fake.stripe, config, event)).rejects.toThrow(/maps to no credit pack/);
    expect(await eventRow(event.id)).toMatchObject({ attempts: 1, processedAt: null, outcome: null, error: expect.stringContaining("maps to no credit pack") });
    expect(await purchasesOf(userId)).toEqual({ rows: 0, credits: 0 });
    expect(await attemptStatus("cs_broken")).toBe("open");
    fake.sessions.set("cs_broken", paidSession("cs_broken", userId));
    expect(await handleStripeEvent(db, fake.stripe, config, event)).toBe("processed");
    expect(await eventRow(event.id)).toMatchObject({ attempts: 2, outcome: "processed", error: null });
    expect(await purchasesOf(userId)).toEqual({ rows: 1, credits: pack.credits });
    // Stripe itself failing (before the body) is an error too, recorded, nothing applied.
    const missing = eventOf("checkout.session.completed", { id: "cs_not_at_stripe", mode: "payment" });
    await expect(handleStripeEvent(db, fake.stripe, config, missing)).rejects.toThrow(/No such object/);
    expect(await eventRow(missing.id)).toMatchObject({ attempts: 1, processedAt: null, error: expect.stringContaining("No such object") });
  });

  it("an event type the app does not handle is acknowledged as ignored, once", async () => {
    const fake = fakeStripe();
    const event = eventOf("customer.created", { id: "cus_x" });
    const outcomes = await Promise.all(Array.from({ length: 5 }, () => handleStripeEvent(db, fake.stripe, config, event)));
    expect(outcomes.filter((o) => o === "ignored").length).toBe(1);
    expect(outcomes.filter((o) => o === "duplicate").length).toBe(4);
    expect(await eventRow(event.id)).toMatchObject({ attempts: 5, outcome: "ignored" });
  });

  it("cards: attached to an app customer is saved, detached is forgotten, a stranger's is ignored", async () => {
    const fake = fakeStripe();
    const userId = await user();
    await db.sql.run("UPDATE users SET stripe_customer_id = ? WHERE id = ?", [`cus_hook_${engine.name}`, userId]);
    fake.paymentMethods.set("pm_hook", { id: "pm_hook", object: "payment_method", type: "card", customer: `cus_hook_${engine.name}`, card: { brand: "visa", last4: "4242" } } as unknown as Stripe.PaymentMethod);
    fake.paymentMethods.set("pm_stranger", { id: "pm_stranger", object: "payment_method", type: "card", customer: "cus_stranger", card: { brand: "visa", last4: "0000" } } as unknown as Stripe.PaymentMethod);
    expect(await handleStripeEvent(db, fake.stripe, config, eventOf("payment_method.attached", { id: "pm_hook" }))).toBe("processed");
    expect(await handleStripeEvent(db, fake.stripe, config, eventOf("payment_method.attached", { id: "pm_stranger" }))).toBe("ignored");
    const cards = () => db.sql.all<{ pm: string }>(`SELECT payment_method_id AS "pm" FROM saved_cards WHERE user_id = ?`, [userId]);
    expect(await cards()).toEqual([{ pm: "pm_hook" }]);
    fake.paymentMethods.set("pm_hook", { ...fake.paymentMethods.get("pm_hook")!, customer: null });
    expect(await handleStripeEvent(db, fake.stripe, config, eventOf("payment_method.detached", { id: "pm_hook" }))).toBe("processed");
    expect(await cards()).toEqual([]);
  });

  it("a setup-mode checkout saves the card its SetupIntent attached; an incomplete one saves nothing", async () => {
    const fake = fakeStripe();
    const userId = await user();
    await db.sql.run("UPDATE users SET stripe_customer_id = ? WHERE id = ?", [`cus_setup_${engine.name}`, userId]);
    const pm = { id: "pm_setup", object: "payment_method", type: "card", customer: `cus_setup_${engine.name}`, card: { brand: "mastercard", last4: "4444" } };
    fake.sessions.set("cs_setup", { id: "cs_setup", mode: "setup", status: "complete", setup_intent: { id: "seti_1", payment_method: pm } } as unknown as Stripe.Checkout.Session);
    fake.sessions.set("cs_setup_open", { id: "cs_setup_open", mode: "setup", status: "open", setup_intent: { id: "seti_2", payment_method: { ...pm, id: "pm_other" } } } as unknown as Stripe.Checkout.Session);
    expect(await handleStripeEvent(db, fake.stripe, config, eventOf("checkout.session.completed", { id: "cs_setup_open", mode: "setup" }))).toBe("ignored");
    const outcomes = await Promise.all(Array.from({ length: 5 }, () => handleStripeEvent(db, fake.stripe, config, eventOf("checkout.session.completed", { id: "cs_setup", mode: "setup" }))));
    expect(outcomes).toEqual(Array(5).fill("processed"));
    expect(await db.sql.all(`SELECT payment_method_id AS "pm", brand, last4 FROM saved_cards WHERE user_id = ?`, [userId])).toEqual([{ pm: "pm_setup", brand: "mastercard", last4: "4444" }]);
  });

  it("a PaymentIntent without recharge metadata is ignored without the auto-recharge seam", async () => {
    const fake = fakeStripe();
    const event = eventOf("payment_intent.succeeded", { id: "pi_checkout" });
    (event.data.object as unknown as { metadata: Record<string, string> }).metadata = { app: "credits", userId: "1" };
    expect(await handleStripeEvent(db, fake.stripe, config, event)).toBe("ignored");
  });

  it("ensureStripeCustomer: 20 parallel first purchases keep one customer id", async () => {
    const fake = fakeStripe();
    const userId = await user();
    const row = (await db.sql.get<User>(`SELECT id, email, stripe_customer_id AS "stripeCustomerId", flagged_at AS "flaggedAt" FROM users WHERE id = ?`, [userId]))!;
    const ids = await Promise.all(Array.from({ length: 20 }, () => ensureStripeCustomer(db, fake.stripe, row)));
    const saved = (await db.sql.get<{ id: string }>(`SELECT stripe_customer_id AS "id" FROM users WHERE id = ?`, [userId]))!.id;
    expect(saved).toMatch(/^cus_fake_/);
    expect(new Set(ids)).toEqual(new Set([saved]));
    // Known already: Stripe is not asked again.
    const before = fake.calls["customers.create"];
    expect(await ensureStripeCustomer(db, fake.stripe, { ...row, stripeCustomerId: saved })).toBe(saved);
    expect(fake.calls["customers.create"]).toBe(before);
  });

  it("createCheckoutSession records the attempt once per form token; refusals ask Stripe nothing", async () => {
    const fake = fakeStripe();
    const userId = await user();
    const row = (await db.sql.get<User>(`SELECT id, email, stripe_customer_id AS "stripeCustomerId", flagged_at AS "flaggedAt" FROM users WHERE id = ?`, [userId]))!;
    const a = await createCheckoutSession(db, fake.stripe, config, { user: row, packId: pack.id, requestToken: "tok1" });
    const b = await createCheckoutSession(db, fake.stripe, config, { user: row, packId: pack.id, requestToken: "tok1" });
    expect(a.ok && b.ok && a.id === b.id).toBe(true);
    const attempts = await db.sql.all<{ sessionId: string; status: string; credits: number }>(
      `SELECT session_id AS "sessionId", status, credits FROM checkout_attempts WHERE user_id = ?`,
      [userId],
    );
    expect(attempts).toEqual([{ sessionId: a.ok ? a.id : "", status: "open", credits: pack.credits }]);
    const calls = { ...fake.calls };
    expect(await createCheckoutSession(db, fake.stripe, config, { user: row, packId: "no-such-pack" })).toMatchObject({ ok: false, reason: "unknown_pack" });
    expect(await createCheckoutSession(db, fake.stripe, config, { user: { ...row, flaggedAt: 1 }, packId: pack.id })).toMatchObject({ ok: false, reason: "account_flagged" });
    expect(fake.calls).toEqual(calls);
  });
});
