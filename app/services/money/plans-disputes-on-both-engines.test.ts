// Plan invoices, subscriptions, refunds, disputes and the admin's refund requests on the executor
// (decision 036), on SQLite and a real PostgreSQL: one invoice grants its period once however many
// deliveries race; a refund or a dispute takes back at most what the purchase granted, once per
// Stripe id; a won dispute gives back once; an older subscription event never overwrites a newer.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type Stripe from "stripe";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeDatabase, openMigratedDatabase, type AppDb } from "../../../db/client.server";
import { closeEngines, ENGINES, insertUserOn, type EngineDb } from "../../../tests/support/engines";
import { listRefundablePurchases, requestRefund } from "../admin/refunds.server";
import type { CreditPlan } from "../env.server";
import { applyChargeRefunded } from "./clawbacks.server";
import { applyDispute } from "./disputes.server";
import { grant, hold, postHold, readBalance, type Tx } from "./ledger.server";
import { grantPlanInvoice, recordFailedInvoice, type PlanInvoice } from "./plan-invoices.server";
import { getSubscriptionView } from "./subscription-view.server";
import { applySubscription, hasLiveSubscription, subscriptionOwner } from "./subscriptions.server";
import { ledgerViolationsOn } from "../../../tests/support/ledger";

const T = Date.UTC(2026, 11, 1, 12);
const DAY = 86_400_000;
const PLAN: CreditPlan = { id: "starter", name: "Starter", priceId: "price_starter", credits: 1000, rolloverCap: 300 };
const plans = { plans: [PLAN] };

afterAll(closeEngines);

function invoiceOf(userId: number, subscriptionId: string, n: number, over: Partial<PlanInvoice> = {}): PlanInvoice {
  return {
    invoiceId: `in_${subscriptionId}_${n}`,
    subscriptionId,
    userId,
    plan: PLAN,
    status: "paid",
    billingReason: n === 0 ? "subscription_create" : "subscription_cycle",
    periodStart: T + n * 30 * DAY,
    periodEnd: T + (n + 1) * 30 * DAY,
    paymentIntentId: `pi_${subscriptionId}_${n}`,
    amountPaid: 1000,
    currency: "usd",
    ...over,
  };
}

const charge = (id: string, amount: number, refunded: number) => ({ id, amount, amount_refunded: refunded }) as Stripe.Charge;
const dispute = (id: string, status: string, amount: number) => ({ id, status, amount, reason: "fraudulent" }) as Stripe.Dispute;

function subscription(id: string, customer: string, status: string, userId: number, over: Partial<Stripe.Subscription> = {}): Stripe.Subscription {
  return {
    id,
    customer,
    status,
    metadata: { app: "credits", userId: String(userId), plan: PLAN.id },
    cancel_at_period_end: false,
    canceled_at: null,
    ended_at: null,
    items: { data: [{ price: { id: PLAN.priceId }, current_period_start: T / 1000, current_period_end: (T + 30 * DAY) / 1000 }] },
    ...over,
  } as unknown as Stripe.Subscription;
}

/** A Stripe whose refunds.create answers one refund per idempotency key, as Stripe does. */
function fakeStripe() {
  const calls: Array<{ params: Stripe.RefundCreateParams; key?: string }> = [];
  const byKey = new Map<string, Stripe.Refund>();
  const stripe = {
    refunds: {
      async create(params: Stripe.RefundCreateParams, options?: { idempotencyKey?: string }) {
        calls.push({ params, key: options?.idempotencyKey });
        const key = options?.idempotencyKey ?? `k${calls.length}`;
        if (!byKey.has(key)) byKey.set(key, { id: `re_${byKey.size + 1}`, amount: params.amount ?? 500, currency: "usd", status: "succeeded" } as Stripe.Refund);
        return byKey.get(key)!;
      },
    },
    subscriptions: {
      async list() {
        calls.push({ params: {} as Stripe.RefundCreateParams, key: "subscriptions.list" });
        return { data: [] };
      },
    },
  } as unknown as Stripe;
  return { stripe, calls };
}

describe.each(ENGINES)("plans, refunds and disputes on $name", (engine) => {
  let db: EngineDb;
  let n = 0;
  beforeAll(async () => {
    db = await engine.open();
  }, 60_000);

  const newUser = async (credits = 0) => {
    const id = await insertUserOn(db, `pd${++n}-${engine.name.toLowerCase()}@example.com`, "user", credits);
    await db.sql.run("UPDATE users SET stripe_customer_id = ? WHERE id = ?", [`cus_${engine.name}_${id}`, id]);
    return id;
  };
  const creditsOf = async (userId: number) => (await db.sql.get<{ credits: number }>("SELECT credits FROM users WHERE id = ?", [userId]))!.credits;
  const takenBack = async (pi: string) =>
    (await db.sql.get<{ n: number }>("SELECT coalesce(-sum(amount), 0) AS n FROM transactions WHERE stripe_payment_id = ? AND type = 'refund'", [pi]))!.n;
  const rowsKeyed = async (key: string) => (await db.sql.get<{ n: number }>("SELECT count(*) AS n FROM transactions WHERE idempotency_key = ?", [key]))!.n;
  const holdOf = async (userId: number) =>
    (await db.sql.get<{ at: number | null; reason: string | null }>(`SELECT flagged_at AS at, flagged_reason AS reason FROM users WHERE id = ?`, [userId]))!;

  /** The ledger's invariants (tests/support/ledger.ts): credits == live rows == unclosed grants, and the rest. */
  async function expectInvariants(): Promise<void> {
    expect(await ledgerViolationsOn(db.sql)).toEqual([]);
  }

  /** A pack bought through Checkout: 500 credits for 500 cents. */
  const purchase = async (userId: number, pi: string, credits = 500): Promise<Tx> =>
    (
      await grant(db.sql, {
        userId,
        amount: credits,
        type: "purchase",
        key: `checkout:${pi}`,
        description: "Bought",
        stripePaymentId: pi,
        meta: { amountTotal: 500, currency: "usd" },
        now: T,
      })
    ).transaction;

  // ------------------------------------------------------------------------------------------
  // Plan invoices

  it("20 parallel deliveries of one paid invoice grant its period once; the others are already_granted", async () => {
    const userId = await newUser();
    const inv = invoiceOf(userId, `sub_race_${engine.name}`, 0);
    const results = await Promise.all(Array.from({ length: 20 }, () => db.sql.write((tx) => grantPlanInvoice(tx, inv, T + 1))));
    expect(results.filter((r) => r.status === "granted")).toHaveLength(1);
    expect(results.filter((r) => r.status === "already_granted")).toHaveLength(19);
    const ids = new Set(results.map((r) => ("transaction" in r ? r.transaction.id : null)));
    expect(ids.size).toBe(1);
    expect(await rowsKeyed(`invoice:${inv.invoiceId}`)).toBe(1);
    expect(await creditsOf(userId)).toBe(1000);
    const periods = await db.sql.all<{ status: string; txId: number }>(`SELECT status, tx_id AS "txId" FROM subscription_periods WHERE invoice_id = ?`, [inv.invoiceId]);
    expect(periods).toEqual([{ status: "paid", txId: [...ids][0] }]);
    // Without a body of the caller's: a write of its own, still once.
    expect((await grantPlanInvoice(db, inv, T + 2)).status).toBe("already_granted");
    expect(await grantPlanInvoice(db, { ...inv, status: "open" }, T + 2)).toEqual({ status: "not_paid", userId, credits: 0 });
    await expectInvariants();
  });

  it("a renewal closes the previous period and rolls up to the cap over; a late older invoice extends nothing", async () => {
    const userId = await newUser();
    const sub = `sub_roll_${engine.name}`;
    const first = invoiceOf(userId, sub, 0);
    expect((await grantPlanInvoice(db, first, T + 1)).status).toBe("granted");
    const spent = await hold(db.sql, { userId, cost: 400, key: `spend:${sub}`, description: "images", ttlSeconds: 600, now: T + 2 });
    if (!spent.ok) throw new Error("refused");
    await postHold(db.sql, spent.transaction.id, T + 3);
    // The renewal, delivered 20 times at once: 600 unspent expire, 300 roll over, 1000 new.
    const renewal = invoiceOf(userId, sub, 1);
    const at = renewal.periodStart + 1;
    const results = await Promise.all(Array.from({ length: 20 }, () => db.sql.write((tx) => grantPlanInvoice(tx, renewal, at))));
    const granted = results.filter((r) => r.status === "granted");
    expect(granted).toEqual([expect.objectContaining({ expired: 600, rolledOver: 300 })]);
    expect((await readBalance(db, userId, at)).balance).toBe(1300);
    expect(await rowsKeyed(`rollover:${renewal.invoiceId}`)).toBe(1);

    // An invoice older than the renewal arriving late: granted, and closed at once.
    const late = invoiceOf(userId, sub, 0, { invoiceId: `in_${sub}_late`, periodStart: first.periodStart + DAY, periodEnd: renewal.periodStart + DAY });
    const lateResult = await grantPlanInvoice(db, late, at + 1);
    expect(lateResult.status).toBe("granted");
    expect((await readBalance(db, userId, at + 1)).balance).toBe(1300);
    const meta = JSON.parse((await db.sql.get<{ meta: string }>("SELECT meta FROM transactions WHERE idempotency_key = ?", [`invoice:${late.invoiceId}`]))!.meta);
    expect(meta.supersededBy).toBe(renewal.invoiceId);
    await expectInvariants();
  });

  // ------------------------------------------------------------------------------------------
  // Subscriptions

  it("a subscription belongs to the user its metadata names only with the user's customer; hostile metadata is nobody's", async () => {
    const userId = await newUser();
    const customer = `cus_${engine.name}_${userId}`;
    expect(await subscriptionOwner(db, { app: "credits", userId: String(userId) }, customer)).toBe(userId);
    expect(await subscriptionOwner(db, { app: "credits", userId: String(userId) }, "cus_someone_else")).toBeNull();
    expect(await subscriptionOwner(db, { app: "credits", userId: String(userId) }, null)).toBeNull();
    for (const hostile of ["0", "-1", "1e3", `${userId} OR 1=1`, `${userId}'`, "99999999999999999999", "", " 1"]) {
      expect(await subscriptionOwner(db, { app: "credits", userId: hostile }, customer)).toBeNull();
    }
    expect(await subscriptionOwner(db, { app: "other", userId: String(userId) }, customer)).toBeNull();
    expect(await subscriptionOwner(db, { app: "credits", userId: "987654321" }, customer)).toBeNull();
  });

  it("of 20 events applied at once, the newest wins, and an older one delivered late never overwrites it", async () => {
    const userId = await newUser();
    const customer = `cus_${engine.name}_${userId}`;
    const id = `sub_order_${engine.name}`;
    const order = Array.from({ length: 20 }, (_, i) => i + 1).sort(() => Math.random() - 0.5);
    const applied = await Promise.all(
      order.map((created) =>
        db.sql.write((tx) => applySubscription(tx, plans, subscription(id, customer, created === 20 ? "past_due" : "active", userId), userId, created, T + created)),
      ),
    );
    expect(applied.some((a) => a.written)).toBe(true);
    const row = await db.sql.get<{ status: string; created: number; cancel: number; planId: string }>(
      `SELECT status, stripe_event_created AS created, cancel_at_period_end AS cancel, plan_id AS "planId" FROM subscriptions WHERE id = ?`,
      [id],
    );
    expect(row).toEqual({ status: "past_due", created: 20, cancel: 0, planId: PLAN.id });
    expect(await applySubscription(db, plans, subscription(id, customer, "canceled", userId), userId, 3)).toMatchObject({ written: false });
    expect(await applySubscription(db, plans, subscription(id, customer, "active", userId, { cancel_at_period_end: true }), userId, 20)).toMatchObject({ written: true });
    const { stripe, calls } = fakeStripe();
    expect(await hasLiveSubscription(db, stripe, userId, customer)).toBe(true);
    expect(calls).toHaveLength(0);
    const other = await newUser();
    expect(await hasLiveSubscription(db, stripe, other, `cus_${engine.name}_${other}`)).toBe(false);
    expect(calls).toHaveLength(1);

    // The billing page's view: the live subscription, the periods, the failure no payment followed.
    const paid = invoiceOf(userId, id, 0);
    await grantPlanInvoice(db, paid, T + 1);
    const failedAt = T + 31 * DAY;
    await db.sql.run(
      `INSERT INTO subscription_periods (invoice_id, subscription_id, user_id, plan_id, status, period_start, period_end, amount_paid, currency, created_at, updated_at)
       VALUES (?, ?, ?, ?, 'failed', ?, ?, 0, 'usd', ?, ?)`,
      [`in_${id}_1`, id, userId, PLAN.id, paid.periodEnd, paid.periodEnd + 30 * DAY, failedAt, failedAt],
    );
    const view = await getSubscriptionView(db, plans, userId);
    expect(view).toEqual({
      subscription: { id, planId: PLAN.id, planName: PLAN.name, status: "active", currentPeriodEnd: T + 30 * DAY, cancelAtPeriodEnd: true },
      lastFailedInvoice: { invoiceId: `in_${id}_1`, at: failedAt },
      periods: [
        expect.objectContaining({ invoiceId: `in_${id}_1`, status: "failed", txId: null, planName: PLAN.name }),
        expect.objectContaining({ invoiceId: paid.invoiceId, status: "paid", txId: expect.any(Number), amountPaid: 1000, currency: "usd" }),
      ],
    });
    expect(await getSubscriptionView(db, plans, other)).toEqual({ subscription: null, lastFailedInvoice: null, periods: [] });
  });

  // ------------------------------------------------------------------------------------------
  // Refunds

  it("20 parallel deliveries of one refund take back once; refunds of a payment never take more than it granted", async () => {
    const userId = await newUser();
    const pi = `pi_refund_${engine.name}`;
    const bought = await purchase(userId, pi);
    const full = charge(`ch_${pi}`, 500, 500);
    const results = await Promise.all(Array.from({ length: 20 }, () => db.sql.write((tx) => applyChargeRefunded(tx, full, bought, pi, T + 5))));
    expect(results.filter((r) => r.clawedBack > 0)).toEqual([{ clawedBack: 500 }]);
    expect(await takenBack(pi)).toBe(500);
    expect(await creditsOf(userId)).toBe(0);

    // Cumulative partial refunds (each its own key) and their replays, all at once.
    const u2 = await newUser();
    const pi2 = `pi_partial_${engine.name}`;
    const p2 = await purchase(u2, pi2);
    const amounts = [100, 200, 300, 400, 500, 100, 300, 500, 200, 400];
    await Promise.all(amounts.map((a) => db.sql.write((tx) => applyChargeRefunded(tx, charge(`ch_${pi2}`, 500, a), p2, pi2, T + 5))));
    expect(await takenBack(pi2)).toBe(500);
    // A late, older event takes nothing more.
    expect(await applyChargeRefunded(db, charge(`ch_${pi2}`, 500, 200), p2, pi2, T + 6)).toEqual({ clawedBack: 0 });
    await expectInvariants();
  });

  it("a plan period's refund takes only what its own grant has left", async () => {
    const userId = await newUser();
    const inv = invoiceOf(userId, `sub_refund_${engine.name}`, 0);
    const granted = await grantPlanInvoice(db, inv, T + 1);
    if (granted.status === "not_paid") throw new Error("not granted");
    const spent = await hold(db.sql, { userId, cost: 700, key: `spend-plan:${userId}`, description: "video", ttlSeconds: 600, now: T + 2 });
    if (!spent.ok) throw new Error("refused");
    await postHold(db.sql, spent.transaction.id, T + 3);
    const pi = inv.paymentIntentId!;
    const results = await Promise.all(
      Array.from({ length: 20 }, () => db.sql.write((tx) => applyChargeRefunded(tx, charge(`ch_${pi}`, 1000, 1000), granted.transaction, pi, T + 4))),
    );
    expect(results.filter((r) => r.clawedBack > 0)).toEqual([{ clawedBack: 300 }]);
    expect(await creditsOf(userId)).toBe(0);
    await expectInvariants();
  });

  // ------------------------------------------------------------------------------------------
  // Disputes

  it("20 parallel deliveries of a dispute take back once and hold the account; 20 of its win give back once and lift it", async () => {
    const userId = await newUser(50);
    const pi = `pi_dispute_${engine.name}`;
    const bought = await purchase(userId, pi);
    const id = `dp_${engine.name}_1`;
    const taken = await Promise.all(Array.from({ length: 20 }, () => db.sql.write((tx) => applyDispute(tx, dispute(id, "needs_response", 500), bought, pi, T + 5))));
    expect(new Set(taken.map((t) => t.clawedBack))).toEqual(new Set([500]));
    expect(await rowsKeyed(`dispute:${id}`)).toBe(1);
    expect(await creditsOf(userId)).toBe(50);
    expect((await holdOf(userId)).reason).toMatch(/^Payment disputed \(fraudulent\)/);
    const row = await db.sql.get<{ withdrawn: number; taken: number; returned: number; status: string }>(
      `SELECT funds_withdrawn AS withdrawn, credits_taken AS taken, credits_returned AS returned, status FROM disputes WHERE id = ?`,
      [id],
    );
    expect(row).toEqual({ withdrawn: 1, taken: 500, returned: 0, status: "needs_response" });

    const won = await Promise.all(Array.from({ length: 20 }, () => db.sql.write((tx) => applyDispute(tx, dispute(id, "won", 500), bought, pi, T + 6))));
    expect(won.every((w) => w.givenBack === 500 && w.clawedBack === 500)).toBe(true);
    expect(await rowsKeyed(`dispute-won:${id}`)).toBe(1);
    expect(await creditsOf(userId)).toBe(550);
    expect(await holdOf(userId)).toEqual({ at: null, reason: null });
    // A late "needs_response" after the win takes nothing again.
    expect(await applyDispute(db, dispute(id, "needs_response", 500), bought, pi, T + 7)).toMatchObject({ clawedBack: 500 });
    expect(await creditsOf(userId)).toBe(550);
    await expectInvariants();
  });

  it("a refund and a dispute of one payment, at once, take back no more than it granted", async () => {
    const userId = await newUser();
    const pi = `pi_both_${engine.name}`;
    const bought = await purchase(userId, pi);
    await Promise.all([
      ...Array.from({ length: 10 }, () => db.sql.write((tx) => applyChargeRefunded(tx, charge(`ch_${pi}`, 500, 300), bought, pi, T + 5))),
      ...Array.from({ length: 10 }, () => db.sql.write((tx) => applyDispute(tx, dispute(`dp_${pi}`, "needs_response", 500), bought, pi, T + 5))),
    ]);
    expect(await takenBack(pi)).toBe(500);
    expect(await creditsOf(userId)).toBe(0);
    await expectInvariants();
  });

  it("an inquiry takes nothing; a win lifts only a dispute's hold, and only once no other dispute holds money back", async () => {
    const userId = await newUser();
    const pa = `pi_two_a_${engine.name}`;
    const pb = `pi_two_b_${engine.name}`;
    const a = await purchase(userId, pa);
    const b = await purchase(userId, pb);
    expect(await applyDispute(db, dispute(`dp_inq_${engine.name}`, "warning_needs_response", 500), a, pa, T + 1)).toEqual({ clawedBack: 0, givenBack: 0, status: "warning_needs_response" });
    expect((await holdOf(userId)).at).toBeNull();
    await applyDispute(db, dispute(`dp_a_${engine.name}`, "needs_response", 500), a, pa, T + 2);
    await applyDispute(db, dispute(`dp_b_${engine.name}`, "under_review", 500), b, pb, T + 3);
    await applyDispute(db, dispute(`dp_a_${engine.name}`, "won", 500), a, pa, T + 4);
    expect((await holdOf(userId)).at).not.toBeNull();
    await applyDispute(db, dispute(`dp_b_${engine.name}`, "lost", 500), b, pb, T + 5);
    expect((await holdOf(userId)).at).not.toBeNull();
    expect(await creditsOf(userId)).toBe(500);

    // An admin's hold is not a dispute's: a win leaves it.
    const other = await newUser();
    const pc = `pi_admin_hold_${engine.name}`;
    const c = await purchase(other, pc);
    await db.sql.run("UPDATE users SET flagged_at = ?, flagged_reason = 'Fraud review by an admin' WHERE id = ?", [T, other]);
    await applyDispute(db, dispute(`dp_c_${engine.name}`, "needs_response", 500), c, pc, T + 1);
    await applyDispute(db, dispute(`dp_c_${engine.name}`, "won", 500), c, pc, T + 2);
    expect(await holdOf(other)).toEqual({ at: T, reason: "Fraud review by an admin" });
    await expectInvariants();
  });

  // ------------------------------------------------------------------------------------------
  // The admin's refund requests

  it("an admin's refund: what is refundable, 20 submits of one form are one Stripe refund and one audit row", async () => {
    const admin = await insertUserOn(db, `pd-admin-${engine.name.toLowerCase()}@example.com`, "admin");
    const userId = await newUser();
    const pi = `pi_admin_${engine.name}`;
    const bought = await purchase(userId, pi);
    expect(await listRefundablePurchases(db, userId)).toEqual([
      expect.objectContaining({ id: bought.id, credits: 500, refundedCredits: 0, amountTotal: 500, currency: "usd", leftToRefund: 500 }),
    ]);
    const { stripe, calls } = fakeStripe();
    const input = { adminId: admin, userId, transactionId: bought.id, reason: "  Customer asked  ", token: "tok-aaaaaaaaaaaaaaaa", amountCents: 200 };
    const results = await Promise.all(Array.from({ length: 20 }, () => requestRefund(db, stripe, input)));
    expect(results.every((r) => r.ok && r.refundId === "re_1" && r.amount === 200)).toBe(true);
    expect(results.filter((r) => r.ok && !r.replayed)).toHaveLength(1);
    const audits = await db.sql.all<{ reason: string; details: string }>("SELECT reason, details FROM audit_log WHERE target_user_id = ?", [userId]);
    expect(audits).toHaveLength(1);
    expect(audits[0]!.reason).toBe("Customer asked");
    expect(JSON.parse(audits[0]!.details)).toMatchObject({ transactionId: bought.id, refundId: "re_1", requestedAmount: 200, requestToken: input.token });
    const asked = calls.length;
    expect(await requestRefund(db, stripe, input)).toMatchObject({ ok: true, replayed: true, refundId: "re_1" });
    expect(calls).toHaveLength(asked);

    // Stripe's webhook reports 2.00 refunded: 3.00 is left, so 3.01 is refused before Stripe is asked.
    await applyChargeRefunded(db, charge(`ch_${pi}`, 500, 200), bought, pi, T + 5);
    expect(await listRefundablePurchases(db, userId)).toEqual([expect.objectContaining({ id: bought.id, refundedCredits: 200, leftToRefund: 300 })]);
    expect(await requestRefund(db, stripe, { ...input, token: "tok-bbbbbbbbbbbbbbbb", amountCents: 301 })).toMatchObject({ ok: false, reason: "amount_too_large" });
    expect(calls).toHaveLength(asked);
    // Not this user's, not a purchase, no such row: refused, Stripe not asked.
    const other = await newUser();
    expect(await requestRefund(db, stripe, { ...input, token: "tok-cccccccccccccccc", userId: other })).toMatchObject({ ok: false, reason: "not_refundable" });
    expect(await requestRefund(db, stripe, { ...input, token: "tok-dddddddddddddddd", transactionId: 987_654_321 })).toMatchObject({ ok: false, reason: "not_refundable" });
    expect(calls).toHaveLength(asked);
    // Refunded in full: no longer listed or refundable.
    await applyChargeRefunded(db, charge(`ch_${pi}`, 500, 500), bought, pi, T + 6);
    expect(await listRefundablePurchases(db, userId)).toEqual([]);
    expect(await requestRefund(db, stripe, { ...input, token: "tok-eeeeeeeeeeeeeeee" })).toMatchObject({ ok: false, reason: "not_refundable" });
    await expectInvariants();
  });
});

// The failed-invoice record queues its mail through the SQLite connection until the mail queue
// takes a `tx` (decision 036 seam): SQLite only.
describe("a failed invoice on SQLite (the mail queue's seam)", () => {
  let dir: string;
  let db: AppDb;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "plan-failed-"));
    db = openMigratedDatabase(path.join(dir, "app.sqlite"));
  });
  afterAll(() => {
    closeDatabase(db);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("20 parallel deliveries record the failure and mail it once; a later payment of the invoice grants as usual", async () => {
    const userId = await insertUserOn(db, "failed-invoice@example.com");
    const inv = invoiceOf(userId, "sub_failed", 1, { status: "open" });
    const config = { appUrl: "https://credits.example" };
    const results = await Promise.all(Array.from({ length: 20 }, () => db.sql.write((tx) => recordFailedInvoice(config, inv, tx, T))));
    expect(results.filter((r) => r.recorded)).toHaveLength(1);
    const mails = await db.sql.all<{ kind: string }>("SELECT kind FROM mail_queue WHERE to_address = ?", ["failed-invoice@example.com"]);
    expect(mails).toEqual([{ kind: "plan_payment_failed" }]);
    expect((await grantPlanInvoice(db, { ...inv, status: "paid" }, T + 1)).status).toBe("granted");
    const period = await db.sql.get<{ status: string; amountPaid: number }>(`SELECT status, amount_paid AS "amountPaid" FROM subscription_periods WHERE invoice_id = ?`, [inv.invoiceId]);
    expect(period).toEqual({ status: "paid", amountPaid: 1000 });
    // A failure event after the payment changes nothing and mails nothing.
    expect(await db.sql.write((tx) => recordFailedInvoice(config, inv, tx, T + 2))).toEqual({ recorded: false });
    expect(await db.sql.all("SELECT id FROM mail_queue")).toHaveLength(1);
  });
});
