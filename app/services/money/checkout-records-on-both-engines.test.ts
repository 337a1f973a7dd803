// Checkout attempts, saved cards and the payment reads on the executor (decision 036), on SQLite
// and a real PostgreSQL: one SQL text, the same rows and the same rules on both.
import type Stripe from "stripe";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CHECKOUT_STATUSES, type CheckoutStatus } from "../../../db/schema";
import { closeEngines, ENGINES, insertUserOn, type EngineDb } from "../../../tests/support/engines";
import { listUnsettledCheckouts, markCheckout, recordCheckoutStarted } from "./checkout-attempts.server";
import { clawback, grant } from "./ledger.server";
import { readCreditsTakenBack, readCreditsTakenBackByPayment, readPurchasesWithRefunds, readTakeBackLimit } from "./payment-queries.server";
import { forgetDetachedCard, readSavedCard, recordAttachedCard, removeSavedCard, userOfCustomer } from "./saved-cards.server";

afterAll(closeEngines);

const T = Date.UTC(2026, 11, 1, 12);

function card(id: string, customer: string | null, last4 = "4242"): Stripe.PaymentMethod {
  return { id, object: "payment_method", type: "card", customer, card: { brand: "visa", last4 } } as unknown as Stripe.PaymentMethod;
}

describe.each(ENGINES)("checkout records on $name", (engine) => {
  let db: EngineDb;
  let n = 0;
  const user = async (customer?: string) => {
    const id = await insertUserOn(db, `records-${++n}-${engine.name.toLowerCase()}@example.com`);
    if (customer) await db.sql.run("UPDATE users SET stripe_customer_id = ? WHERE id = ?", [customer, id]);
    return id;
  };
  const statusOf = async (sessionId: string) =>
    (await db.sql.get<{ status: string }>("SELECT status FROM checkout_attempts WHERE session_id = ?", [sessionId]))?.status;
  beforeAll(async () => {
    db = await engine.open();
  }, 60_000);

  it("records a started checkout once, in drizzle's shape", async () => {
    const userId = await user();
    const attempt = { sessionId: "cs_rec_1", userId, pack: "default", credits: 500, amountTotal: 500, currency: "usd" };
    await recordCheckoutStarted(db, attempt);
    await recordCheckoutStarted(db, { ...attempt, credits: 1 }); // the same session again: nothing changes
    await markCheckout(db, "cs_rec_1", "processing", T);
    const rows = await listUnsettledCheckouts(db, userId);
    expect(rows).toEqual([{ ...attempt, status: "processing", createdAt: expect.any(Number), updatedAt: T }]);
    expect(typeof rows[0]!.createdAt).toBe("number");
  });

  it("moves a status only where its table allows (every pair of statuses)", async () => {
    const userId = await user();
    const allowed: Record<CheckoutStatus, readonly CheckoutStatus[]> = {
      open: ["processing", "paid", "failed", "expired"],
      processing: ["paid", "failed", "expired"],
      failed: ["paid"],
      expired: ["paid"],
      paid: [],
    };
    for (const from of CHECKOUT_STATUSES) {
      for (const to of CHECKOUT_STATUSES) {
        const sessionId = `cs_move_${from}_${to}`;
        await recordCheckoutStarted(db, { sessionId, userId, pack: "default", credits: 5, amountTotal: null, currency: null });
        await db.sql.run("UPDATE checkout_attempts SET status = ? WHERE session_id = ?", [from, sessionId]);
        await markCheckout(db, sessionId, to);
        expect([from, to, await statusOf(sessionId)]).toEqual([from, to, allowed[from].includes(to) ? to : from]);
      }
    }
    // An unknown session is left alone (no row appears).
    await markCheckout(db, "cs_never_started", "paid");
    expect(await statusOf("cs_never_started")).toBeUndefined();
  });

  it("lists processing and failed attempts only, newest first, at most `limit`, inside a body too", async () => {
    const userId = await user();
    const other = await user();
    const statuses: CheckoutStatus[] = ["open", "processing", "paid", "failed", "expired", "processing", "failed"];
    for (const [i, status] of statuses.entries()) {
      const sessionId = `cs_list_${userId}_${i}`;
      await recordCheckoutStarted(db, { sessionId, userId, pack: "default", credits: 5, amountTotal: 5, currency: "usd" });
      await db.sql.run("UPDATE checkout_attempts SET status = ?, created_at = ? WHERE session_id = ?", [status, T + i, sessionId]);
    }
    await recordCheckoutStarted(db, { sessionId: `cs_list_other_${other}`, userId: other, pack: "default", credits: 5, amountTotal: 5, currency: "usd" });
    await markCheckout(db, `cs_list_other_${other}`, "failed");
    const listed = await listUnsettledCheckouts(db, userId);
    expect(listed.map((a) => [a.sessionId, a.status])).toEqual([
      [`cs_list_${userId}_6`, "failed"],
      [`cs_list_${userId}_5`, "processing"],
      [`cs_list_${userId}_3`, "failed"],
      [`cs_list_${userId}_1`, "processing"],
    ]);
    expect((await listUnsettledCheckouts(db, userId, 2)).length).toBe(2);
    // Inside a write body the body's own (uncommitted) move is seen.
    const seen = await db.sql.write(async (tx) => {
      await markCheckout(tx, `cs_list_${userId}_6`, "paid");
      return listUnsettledCheckouts(tx, userId);
    });
    expect(seen.length).toBe(3);
  });

  it("20 concurrent moves of one attempt end in one final state, the one Stripe's word allows", async () => {
    const userId = await user();
    await recordCheckoutStarted(db, { sessionId: "cs_race", userId, pack: "default", credits: 5, amountTotal: 5, currency: "usd" });
    const moves: CheckoutStatus[] = Array.from({ length: 20 }, (_, i) => (["processing", "failed", "expired", "paid"] as const)[i % 4]);
    await Promise.all(moves.map((to) => markCheckout(db, "cs_race", to)));
    // Whatever the order, a paid move is never undone and always lands (it beats failed/expired).
    expect(await statusOf("cs_race")).toBe("paid");
  });

  it("saved cards: recorded for the app's customers only, replaced by the newest, forgotten by id", async () => {
    const userId = await user(`cus_cards_${engine.name}`);
    expect(await userOfCustomer(db, `cus_cards_${engine.name}`)).toBe(userId);
    expect(await userOfCustomer(db, "cus_someone_else")).toBeNull();
    expect(await userOfCustomer(db, null)).toBeNull();

    expect(await recordAttachedCard(db, card("pm_stranger", "cus_someone_else"))).toEqual({ userId: null, saved: false });
    expect(await recordAttachedCard(db, { ...card("pm_sepa", `cus_cards_${engine.name}`), type: "sepa_debit", card: undefined } as unknown as Stripe.PaymentMethod)).toEqual({ userId, saved: false });
    expect(await recordAttachedCard(db, card("pm_1", `cus_cards_${engine.name}`, "1111"), T)).toEqual({ userId, saved: true });
    expect(await readSavedCard(db, userId)).toEqual({ userId, paymentMethodId: "pm_1", brand: "visa", last4: "1111", createdAt: T });
    // In a webhook's body: the newest card replaces the one before.
    await db.sql.write((tx) => recordAttachedCard(tx, card("pm_2", `cus_cards_${engine.name}`, "2222"), T + 1));
    expect(await readSavedCard(db, userId)).toMatchObject({ paymentMethodId: "pm_2", last4: "2222", createdAt: T + 1 });
    // An old card's detachment does not forget the newer one.
    expect(await forgetDetachedCard(db, "pm_1")).toBe(false);
    expect(await readSavedCard(db, userId)).toMatchObject({ paymentMethodId: "pm_2" });
    expect(await db.sql.write((tx) => forgetDetachedCard(tx, "pm_2"))).toBe(true);
    expect(await readSavedCard(db, userId)).toBeUndefined();
  });

  it("20 concurrent attachments leave exactly one card, one of theirs", async () => {
    const userId = await user(`cus_race_${engine.name}`);
    const ids = Array.from({ length: 20 }, (_, i) => `pm_race_${i}`);
    const results = await Promise.all(ids.map((id) => db.sql.write((tx) => recordAttachedCard(tx, card(id, `cus_race_${engine.name}`)))));
    expect(results.every((r) => r.saved && r.userId === userId)).toBe(true);
    const rows = await db.sql.all<{ paymentMethodId: string }>(`SELECT payment_method_id AS "paymentMethodId" FROM saved_cards WHERE user_id = ?`, [userId]);
    expect(rows.length).toBe(1);
    expect(ids).toContain(rows[0]!.paymentMethodId);
  });

  it("removing a card detaches it at Stripe first (a card already gone there is fine); other errors keep it", async () => {
    const userId = await user(`cus_remove_${engine.name}`);
    const detached: string[] = [];
    const stripeFailing = (code: string) =>
      ({
        paymentMethods: {
          detach: async (id: string) => {
            detached.push(id);
            if (code) throw Object.assign(new Error(code), { code });
            return {};
          },
        },
      }) as unknown as Stripe;
    expect(await removeSavedCard(db, stripeFailing(""), userId)).toBe(false);
    expect(detached).toEqual([]);
    await recordAttachedCard(db, card("pm_rm", `cus_remove_${engine.name}`));
    await expect(removeSavedCard(db, stripeFailing("api_connection_error"), userId)).rejects.toThrow("api_connection_error");
    expect(await readSavedCard(db, userId)).toMatchObject({ paymentMethodId: "pm_rm" });
    expect(await removeSavedCard(db, stripeFailing("resource_missing"), userId)).toBe(true);
    expect(await readSavedCard(db, userId)).toBeUndefined();
    await recordAttachedCard(db, card("pm_rm2", `cus_remove_${engine.name}`));
    expect(await removeSavedCard(db, stripeFailing(""), userId)).toBe(true);
    expect(detached).toEqual(["pm_rm", "pm_rm", "pm_rm2"]);
  });

  it("payment reads: credits taken back per payment, purchases with what was taken, a plan's limit", async () => {
    const userId = await user();
    const p1 = await grant(db.sql, { userId, amount: 500, type: "purchase", key: `q:p1:${userId}`, description: "pack", stripePaymentId: `pi_q1_${userId}`, meta: { amountTotal: 500 }, now: T });
    const p2 = await grant(db.sql, { userId, amount: 300, type: "topup", key: `q:p2:${userId}`, description: "topup", stripePaymentId: `pi_q2_${userId}`, now: T + 1 });
    await grant(db.sql, { userId, amount: 50, type: "bonus", key: `q:b:${userId}`, description: "bonus", now: T + 2 });
    const plan = await grant(db.sql, { userId, amount: 100, type: "plan", key: `q:plan:${userId}`, description: "plan", stripePaymentId: `pi_q3_${userId}`, expiresAt: T + 10_000_000_000, now: T + 3 });
    await clawback(db.sql, { userId, amount: 120, key: `q:r1:${userId}`, description: "refund", stripePaymentId: `pi_q1_${userId}`, now: T + 4 });
    await clawback(db.sql, { userId, amount: 30, key: `q:r2:${userId}`, description: "refund", stripePaymentId: `pi_q1_${userId}`, now: T + 5 });
    await clawback(db.sql, { userId, amount: 40, key: `q:r3:${userId}`, description: "refund", stripePaymentId: `pi_q3_${userId}`, now: T + 6 });

    expect(await readCreditsTakenBack(db, `pi_q1_${userId}`)).toBe(150);
    expect(await readCreditsTakenBack(db, `pi_q2_${userId}`)).toBe(0);
    expect(await readCreditsTakenBack(db, "pi_unknown")).toBe(0);
    const many = await readCreditsTakenBackByPayment(db, [`pi_q1_${userId}`, `pi_q2_${userId}`, `pi_q3_${userId}`, `pi_q1_${userId}`, "pi_unknown"]);
    expect([...many.entries()].sort()).toEqual([
      [`pi_q1_${userId}`, 150],
      [`pi_q3_${userId}`, 40],
    ]);
    expect((await readCreditsTakenBackByPayment(db, [])).size).toBe(0);
    // More ids than one statement carries.
    const lots = [...Array.from({ length: 1200 }, (_, i) => `pi_none_${i}`), `pi_q1_${userId}`];
    expect([...(await readCreditsTakenBackByPayment(db, lots)).entries()]).toEqual([[`pi_q1_${userId}`, 150]]);

    const purchases = await readPurchasesWithRefunds(db, userId, 10);
    expect(purchases).toEqual([
      { id: p2.transaction.id, createdAt: T + 1, amount: 300, description: "topup", meta: p2.transaction.meta, takenBack: 0 },
      { id: p1.transaction.id, createdAt: T, amount: 500, description: "pack", meta: p1.transaction.meta, takenBack: 150 },
    ]);
    expect((await readPurchasesWithRefunds(db, userId, 1)).map((p) => p.id)).toEqual([p2.transaction.id]);

    expect(await readTakeBackLimit(db, { id: p1.transaction.id, type: "purchase" }, 1000)).toBe(1000);
    // The plan's grant has 60 left (100 - 40 taken back): no more than that, and 0 once expired.
    expect(await readTakeBackLimit(db, { id: plan.transaction.id, type: "plan" }, 1000, T + 7)).toBe(60);
    expect(await readTakeBackLimit(db, { id: plan.transaction.id, type: "plan" }, 10, T + 7)).toBe(10);
    expect(await readTakeBackLimit(db, { id: plan.transaction.id, type: "plan" }, 1000, T + 10_000_000_000)).toBe(0);
  });
});
