import type Stripe from "stripe";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { PRICE, startHarness, type Harness } from "../../tests/support/emulator-harness";

let h: Harness;

beforeEach(async () => {
  h = await startHarness();
});

afterEach(async () => {
  await h.close();
});

/** Every event type the emulator recorded, oldest first. */
async function eventTypes(): Promise<string[]> {
  await h.emulator.waitForDeliveries();
  const response = await h.driver("/events?limit=100");
  const { data } = (await response.json()) as { data: Array<{ event: Stripe.Event }> };
  return data.map(({ event }) => event.type).reverse();
}

describe("a session a 100% discount makes free (no_payment_required)", () => {
  test("the driver completes it with nothing to pay and no PaymentIntent or charge", async () => {
    const session = await h.createSession({ line_items: [{ price: PRICE.id, quantity: 2 }] });
    const response = await h.driver(`/checkout/sessions/${session.id}/pay`, { outcome: "no_payment_required" });
    expect(response.status).toBe(200);
    const completed = (await response.json()) as Stripe.Checkout.Session;
    expect(completed).toMatchObject({
      id: session.id,
      status: "complete",
      payment_status: "no_payment_required",
      amount_subtotal: 2000,
      amount_total: 0,
      total_details: { amount_discount: 2000, amount_shipping: 0, amount_tax: 0 },
      payment_intent: null,
      url: null,
      metadata: { userId: "7" },
      client_reference_id: "7",
    });
    expect(completed.discounts).toHaveLength(1);
    expect(await h.stripe.checkout.sessions.retrieve(session.id)).toEqual(completed);

    const [item] = (await h.stripe.checkout.sessions.listLineItems(session.id)).data;
    expect(item).toMatchObject({ quantity: 2, amount_subtotal: 2000, amount_discount: 2000, amount_total: 0 });

    expect(await eventTypes()).toEqual(["checkout.session.completed"]);
    const [event] = h.receiver.eventsOfType("checkout.session.completed");
    expect(event.data.object).toEqual(completed);

    // Complete means complete: it cannot be paid afterwards.
    expect((await h.driver(`/checkout/sessions/${session.id}/pay`, { outcome: "paid" })).status).toBe(409);
  });

  test("the hosted page offers the discount when the session allows promotion codes", async () => {
    const session = await h.createSession({ allow_promotion_codes: true });
    const page = await (await fetch(session.url!)).text();
    expect(page).toContain('value="free_with_discount"');

    const response = await h.pressButton(session, "free_with_discount");
    expect(response.status).toBe(303);
    expect(response.headers.get("location")).toBe(`https://app.example/billing/success?session_id=${session.id}`);
    const completed = await h.stripe.checkout.sessions.retrieve(session.id);
    expect(completed).toMatchObject({ payment_status: "no_payment_required", amount_total: 0, payment_intent: null });

    const closedPage = await (await fetch(`${h.emulator.publicUrl}/checkout/${session.id}`)).text();
    expect(closedPage).toContain("no payment was needed");
  });

  test("the hosted page refuses the discount when the session does not allow promotion codes", async () => {
    const session = await h.createSession();
    expect(await (await fetch(session.url!)).text()).not.toContain("free_with_discount");
    expect((await h.pressButton(session, "free_with_discount")).status).toBe(400);
    expect(await h.stripe.checkout.sessions.retrieve(session.id)).toMatchObject({ status: "open" });
  });
});

describe("expiring a session from the driver", () => {
  test("expires an open session now, as Stripe does when its time runs out", async () => {
    const session = await h.createSession();
    const response = await h.driver(`/checkout/sessions/${session.id}/expire`, {});
    expect(response.status).toBe(200);
    const expired = (await response.json()) as Stripe.Checkout.Session;
    expect(expired).toMatchObject({ id: session.id, status: "expired", url: null, payment_intent: null });
    expect(await h.stripe.checkout.sessions.retrieve(session.id)).toEqual(expired);

    expect(await eventTypes()).toEqual(["checkout.session.expired"]);
    const [event] = h.receiver.eventsOfType("checkout.session.expired");
    expect(event.data.object).toEqual(expired);
    // No API request caused it, as with Stripe's own expiry.
    expect(event.request).toEqual({ id: null, idempotency_key: null });

    const page = await fetch(`${h.emulator.publicUrl}/checkout/${session.id}`);
    expect(await page.text()).toContain("This checkout session has expired");
    expect((await h.driver(`/checkout/sessions/${session.id}/pay`, { outcome: "paid" })).status).toBe(409);
  });

  test("refuses a session that is no longer open, and an unknown one", async () => {
    const session = await h.paySession();
    const again = await h.driver(`/checkout/sessions/${session.id}/expire`, {});
    expect(again.status).toBe(400);
    expect(await again.json()).toMatchObject({ error: { code: "checkout_session_not_open" } });
    expect((await h.driver("/checkout/sessions/cs_test_nope/expire", {})).status).toBe(404);
  });
});
