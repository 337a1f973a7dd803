import type Stripe from "stripe";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { PRICE, startHarness, type Harness } from "../../tests/support/emulator-harness";

// GET /v1/checkout/sessions, filtered as the app uses it: a refund that arrives before its
// purchase was fulfilled finds the purchase's session by its PaymentIntent.

let h: Harness;
beforeEach(async () => {
  h = await startHarness();
});
afterEach(async () => {
  await h.close();
});

describe("listing Checkout Sessions", () => {
  test("filters by payment_intent and lists newest first", async () => {
    const first = await h.createSession({ line_items: [{ price: PRICE.id, quantity: 1 }] });
    const second = await h.createSession({ line_items: [{ price: PRICE.id, quantity: 1 }] });
    await h.driver(`/checkout/sessions/${first.id}/pay`, { outcome: "paid" });
    const paid = await h.stripe.checkout.sessions.retrieve(first.id);
    const intentId = typeof paid.payment_intent === "string" ? paid.payment_intent : paid.payment_intent!.id;

    const byIntent = await h.stripe.checkout.sessions.list({ payment_intent: intentId, limit: 1 });
    expect(byIntent.object).toBe("list");
    expect(byIntent.data.map((s) => s.id)).toEqual([first.id]);

    const all = await h.stripe.checkout.sessions.list({ limit: 10 });
    expect(all.data.map((s) => s.id)).toEqual([second.id, first.id]);

    expect((await h.stripe.checkout.sessions.list({ payment_intent: "pi_nobody" })).data).toEqual([]);
  });

  test("filters by status: open, complete, expired", async () => {
    const paid = await h.createSession({ line_items: [{ price: PRICE.id, quantity: 1 }] });
    const open = await h.createSession({ line_items: [{ price: PRICE.id, quantity: 1 }] });
    const expired = await h.createSession({ line_items: [{ price: PRICE.id, quantity: 1 }] });
    await h.driver(`/checkout/sessions/${paid.id}/pay`, { outcome: "paid" });
    await h.stripe.checkout.sessions.expire(expired.id);
    const ids = async (status: "open" | "complete" | "expired") => (await h.stripe.checkout.sessions.list({ status })).data.map((s) => s.id);
    expect(await ids("open")).toEqual([open.id]);
    expect(await ids("complete")).toEqual([paid.id]);
    expect(await ids("expired")).toEqual([expired.id]);
    const error = await h.stripe.checkout.sessions.list({ status: "paid" } as unknown as Stripe.Checkout.SessionListParams).catch((e: unknown) => e);
    expect(error).toMatchObject({ type: "StripeInvalidRequestError" });
  });

  test("refuses an unknown filter as Stripe does", async () => {
    const error = await h.stripe.checkout.sessions.list({ nonsense: "x" } as Stripe.Checkout.SessionListParams).catch((e: unknown) => e);
    expect(error).toMatchObject({ type: "StripeInvalidRequestError" });
  });
});
