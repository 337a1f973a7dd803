import Stripe from "stripe";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { API_VERSION, CANCEL_URL, PRICE, startHarness, type Harness } from "../../tests/support/emulator-harness";

let h: Harness;

beforeEach(async () => {
  h = await startHarness({ emulator: { asyncPaymentDelayMs: 200 } });
});

afterEach(async () => {
  await h.close();
});

function successUrl(sessionId: string): string {
  return `https://app.example/billing/success?session_id=${sessionId}`;
}

describe("customers and prices", () => {
  test("creates a customer and retrieves it", async () => {
    const created: Stripe.Customer = await h.stripe.customers.create({
      email: "ada@example.com",
      name: "Ada",
      metadata: { userId: "7" },
    });
    expect(created.id).toMatch(/^cus_\w{14}$/);
    expect(created).toMatchObject({ object: "customer", email: "ada@example.com", livemode: false });

    const retrieved = await h.stripe.customers.retrieve(created.id);
    expect(retrieved).toEqual(created);
  });

  test("an unknown customer is a 404 StripeInvalidRequestError with code resource_missing", async () => {
    const error = await h.stripe.customers.retrieve("cus_nope").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect(error).toMatchObject({ statusCode: 404, code: "resource_missing", message: "No such customer: 'cus_nope'" });
  });

  test("serves the configured price, with its product when expanded", async () => {
    const price: Stripe.Price = await h.stripe.prices.retrieve(PRICE.id, { expand: ["product"] });
    expect(price).toMatchObject({ id: PRICE.id, object: "price", unit_amount: 1000, currency: "usd", type: "one_time" });
    const product = price.product as Stripe.Product;
    expect(product).toMatchObject({ object: "product", name: "100 credits", default_price: PRICE.id });
  });
});

describe("creating Checkout Sessions", () => {
  test("creates an open payment session whose url is the emulator's hosted page", async () => {
    const customer = await h.stripe.customers.create({ email: "ada@example.com" });
    const session = await h.createSession({ customer: customer.id });

    expect(session.id).toMatch(/^cs_test_\w{58}$/);
    expect(session).toMatchObject({
      object: "checkout.session",
      mode: "payment",
      status: "open",
      payment_status: "unpaid",
      amount_total: 1000,
      amount_subtotal: 1000,
      currency: "usd",
      customer: customer.id,
      client_reference_id: "7",
      metadata: { userId: "7" },
      success_url: "https://app.example/billing/success?session_id={CHECKOUT_SESSION_ID}",
      cancel_url: CANCEL_URL,
      payment_intent: null,
      livemode: false,
      ui_mode: "hosted_page",
      url: `${h.emulator.publicUrl}/checkout/${session.id}`,
    });
    expect(session.expires_at - session.created).toBe(24 * 60 * 60);
    expect(session.line_items).toBeUndefined();
  });

  test("retrieves a session with expand[]=line_items, and lists its line items", async () => {
    const { id } = await h.createSession({ line_items: [{ price: PRICE.id, quantity: 2 }] });

    const session = await h.stripe.checkout.sessions.retrieve(id, { expand: ["line_items"] });
    expect(session.amount_total).toBe(2000);
    expect(session.line_items).toMatchObject({
      object: "list",
      has_more: false,
      url: `/v1/checkout/sessions/${id}/line_items`,
    });
    const [item] = session.line_items?.data ?? [];
    expect(item).toMatchObject({
      object: "item",
      quantity: 2,
      amount_subtotal: 2000,
      amount_total: 2000,
      currency: "usd",
      description: "100 credits",
      price: { id: PRICE.id, unit_amount: 1000 },
    });

    const listed: Stripe.ApiList<Stripe.LineItem> = await h.stripe.checkout.sessions.listLineItems(id);
    expect(listed.data).toEqual(session.line_items?.data);
  });

  test("an unknown price is a StripeInvalidRequestError that names the parameter", async () => {
    const error = await h
      .createSession({ line_items: [{ price: "price_nope", quantity: 1 }] })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect(error).toMatchObject({
      statusCode: 400,
      type: "StripeInvalidRequestError",
      code: "resource_missing",
      param: "line_items[0][price]",
      message: "No such price: 'price_nope'",
    });
  });

  test("refuses parameters it does not emulate instead of silently ignoring them", async () => {
    const error = await h.createSession({ automatic_tax: { enabled: true } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect(error).toMatchObject({ param: "automatic_tax", code: "parameter_unknown" });

    const embedded = await h.createSession({ ui_mode: "embedded_page" }).catch((e: unknown) => e);
    expect(embedded).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect(embedded).toMatchObject({ param: "ui_mode" });
  });

  test("refuses a session without line items, or with both customer and customer_email", async () => {
    const missing = await h.createSession({ line_items: undefined }).catch((e: unknown) => e);
    expect(missing).toMatchObject({ param: "line_items", code: "parameter_missing" });

    const customer = await h.stripe.customers.create({});
    const both = await h
      .createSession({ customer: customer.id, customer_email: "x@example.com" })
      .catch((e: unknown) => e);
    expect(both).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
  });
});

describe("the hosted checkout page", () => {
  test("is plain HTML, marked as test mode, with the product, the amount and four labelled buttons", async () => {
    const session = await h.createSession();
    const response = await fetch(session.url ?? "");
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("text/html");
    const html = await response.text();

    expect(html).toContain("Test mode — no real payments");
    expect(html).toContain("100 credits");
    expect(html).toContain("$10.00");
    expect(html).toContain("USD");
    expect(html).toContain('<form method="post">');
    expect(html).not.toContain("<script");
    const buttons = [...html.matchAll(/<button type="submit" name="action" value="(\w+)"[^>]*>([^<]+)<\/button>/g)].map(
      (match) => [match[1], match[2]],
    );
    expect(buttons).toEqual([
      ["pay", "Pay"],
      ["delayed_success", "Pay with a delayed method (succeeds)"],
      ["delayed_failure", "Pay with a delayed method (fails)"],
      ["cancel", "Cancel"],
    ]);
  });

  test("Pay completes the session, creates a PaymentIntent and a Charge, redirects to success_url", async () => {
    const customer = await h.stripe.customers.create({ email: "ada@example.com" });
    const session = await h.createSession({ customer: customer.id });

    const response = await h.pressButton(session, "pay");
    expect(response.status).toBe(303);
    expect(response.headers.get("location")).toBe(successUrl(session.id));

    const paid = await h.stripe.checkout.sessions.retrieve(session.id, { expand: ["payment_intent.latest_charge"] });
    expect(paid).toMatchObject({
      status: "complete",
      payment_status: "paid",
      url: null,
      customer_details: { email: "ada@example.com" },
    });
    const paymentIntent = paid.payment_intent as Stripe.PaymentIntent;
    expect(paymentIntent).toMatchObject({
      object: "payment_intent",
      status: "succeeded",
      amount: 1000,
      amount_received: 1000,
      currency: "usd",
      customer: customer.id,
    });
    const charge = paymentIntent.latest_charge as Stripe.Charge;
    expect(charge).toMatchObject({
      object: "charge",
      status: "succeeded",
      paid: true,
      captured: true,
      amount: 1000,
      amount_refunded: 0,
      refunded: false,
      disputed: false,
      payment_intent: paymentIntent.id,
      customer: customer.id,
      payment_method_details: { type: "card" },
    });
    expect(charge.receipt_url).toBe(`${h.emulator.publicUrl}/receipts/${charge.id}`);

    // The same objects through their own endpoints.
    expect(await h.stripe.paymentIntents.retrieve(paymentIntent.id)).toMatchObject({ latest_charge: charge.id });
    expect(await h.stripe.charges.retrieve(charge.id)).toEqual(charge);
    const receipt = await fetch(charge.receipt_url ?? "");
    expect(receipt.status).toBe(200);
    expect(await receipt.text()).toContain("$10.00");

    await h.emulator.waitForDeliveries();
    const [completed] = h.receiver.eventsOfType("checkout.session.completed");
    expect(completed).toMatchObject({
      object: "event",
      api_version: API_VERSION,
      livemode: false,
      request: { id: null, idempotency_key: null },
    });
    expect(completed.id).toMatch(/^evt_\w{24}$/);
    expect(completed.data.object).toMatchObject({
      id: session.id,
      status: "complete",
      payment_status: "paid",
      client_reference_id: "7",
      metadata: { userId: "7" },
      payment_intent: paymentIntent.id,
    });
    expect(h.receiver.eventsOfType("charge.succeeded")).toHaveLength(1);
    expect(h.receiver.eventsOfType("payment_intent.succeeded")).toHaveLength(1);
    expect(h.receiver.rejected).toEqual([]);
  });

  test("a completed session shows a clear page and takes no second payment", async () => {
    const session = await h.createSession();
    expect((await h.pressButton(session, "pay")).status).toBe(303);

    const again = await h.pressButton(session, "pay");
    expect(again.status).toBe(409);
    expect(await again.text()).toContain("This checkout is already complete");

    const page = await fetch(`${h.emulator.publicUrl}/checkout/${session.id}`);
    const html = await page.text();
    expect(html).toContain("This checkout is already complete");
    expect(html).not.toContain('name="action"');

    const driver = await h.driver(`/checkout/sessions/${session.id}/pay`, { outcome: "paid" });
    expect(driver.status).toBe(409);

    await h.emulator.waitForDeliveries();
    expect(h.receiver.eventsOfType("checkout.session.completed")).toHaveLength(1);
    expect(h.receiver.eventsOfType("charge.succeeded")).toHaveLength(1);
  });

  test("a delayed method that succeeds: complete and unpaid at once, paid after the delay", async () => {
    const session = await h.createSession();
    const response = await h.pressButton(session, "delayed_success");
    expect(response.status).toBe(303);
    expect(response.headers.get("location")).toBe(successUrl(session.id));

    const processing = await h.stripe.checkout.sessions.retrieve(session.id, { expand: ["payment_intent"] });
    expect(processing).toMatchObject({ status: "complete", payment_status: "unpaid" });
    expect(processing.payment_intent).toMatchObject({ status: "processing", amount_received: 0 });

    await h.emulator.waitForDeliveries();
    const settled = await h.stripe.checkout.sessions.retrieve(session.id, { expand: ["payment_intent.latest_charge"] });
    expect(settled).toMatchObject({ status: "complete", payment_status: "paid" });
    const paymentIntent = settled.payment_intent as Stripe.PaymentIntent;
    expect(paymentIntent).toMatchObject({ status: "succeeded", amount_received: 1000 });
    expect(paymentIntent.latest_charge).toMatchObject({
      status: "succeeded",
      paid: true,
      payment_method_details: { type: "us_bank_account" },
    });

    const [completed] = h.receiver.eventsOfType("checkout.session.completed");
    expect(completed.data.object).toMatchObject({ id: session.id, payment_status: "unpaid" });
    const [succeeded] = h.receiver.eventsOfType("checkout.session.async_payment_succeeded");
    expect(succeeded.data.object).toMatchObject({ id: session.id, payment_status: "paid" });
    expect(succeeded.created).toBeGreaterThanOrEqual(completed.created);
    expect(h.receiver.eventsOfType("checkout.session.async_payment_failed")).toEqual([]);
  });

  test("a delayed method that fails: the session stays unpaid and async_payment_failed is sent", async () => {
    const session = await h.createSession();
    expect((await h.pressButton(session, "delayed_failure")).status).toBe(303);
    await h.emulator.waitForDeliveries();

    const failed = await h.stripe.checkout.sessions.retrieve(session.id, { expand: ["payment_intent.latest_charge"] });
    expect(failed).toMatchObject({ status: "complete", payment_status: "unpaid" });
    const paymentIntent = failed.payment_intent as Stripe.PaymentIntent;
    expect(paymentIntent).toMatchObject({
      status: "requires_payment_method",
      last_payment_error: { code: "insufficient_funds" },
    });
    expect(paymentIntent.latest_charge).toMatchObject({ status: "failed", paid: false, failure_code: "insufficient_funds" });

    const [failedEvent] = h.receiver.eventsOfType("checkout.session.async_payment_failed");
    expect(failedEvent.data.object).toMatchObject({ id: session.id, payment_status: "unpaid" });
    expect(h.receiver.eventsOfType("checkout.session.async_payment_succeeded")).toEqual([]);
  });

  test("a bank debit in euros is a SEPA debit", async () => {
    const session = await h.createSession({ line_items: [{ price: "price_test_credits_eur", quantity: 1 }] });
    expect((await h.pressButton(session, "delayed_success")).status).toBe(303);
    await h.emulator.waitForDeliveries();
    const settled = await h.stripe.checkout.sessions.retrieve(session.id, { expand: ["payment_intent.latest_charge"] });
    const charge = (settled.payment_intent as Stripe.PaymentIntent).latest_charge as Stripe.Charge;
    expect(charge).toMatchObject({ currency: "eur", amount: 900, payment_method_details: { type: "sepa_debit" } });
  });

  test("Cancel redirects to cancel_url and leaves the session open", async () => {
    const session = await h.createSession();
    const response = await h.pressButton(session, "cancel");
    expect(response.status).toBe(303);
    expect(response.headers.get("location")).toBe(CANCEL_URL);

    const still = await h.stripe.checkout.sessions.retrieve(session.id);
    expect(still).toMatchObject({ status: "open", payment_status: "unpaid", payment_intent: null });
    // The customer can come back and pay.
    expect((await h.pressButton(session, "pay")).status).toBe(303);
  });

  test("an expired session shows a clear page and cannot be paid", async () => {
    const session = await h.createSession();
    const expired = await h.stripe.checkout.sessions.expire(session.id);
    expect(expired).toMatchObject({ status: "expired", url: null });

    const page = await fetch(`${h.emulator.publicUrl}/checkout/${session.id}`);
    expect(await page.text()).toContain("This checkout session has expired");
    const pay = await h.pressButton(session, "pay");
    expect(pay.status).toBe(409);

    const again = await h.stripe.checkout.sessions.expire(session.id).catch((e: unknown) => e);
    expect(again).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);

    await h.emulator.waitForDeliveries();
    expect(h.receiver.eventsOfType("checkout.session.expired")).toHaveLength(1);
    expect(h.receiver.eventsOfType("checkout.session.completed")).toEqual([]);
  });

  test("an unknown session's page is a 404", async () => {
    const response = await fetch(`${h.emulator.publicUrl}/checkout/cs_test_nope`);
    expect(response.status).toBe(404);
    expect(await response.text()).toContain("Checkout session not found");
  });

  test("the test driver pays a session through the same code path as the form", async () => {
    const session = await h.createSession();
    const response = await h.driver(`/checkout/sessions/${session.id}/pay`, { outcome: "paid" });
    expect(response.status).toBe(200);
    const paid = (await response.json()) as Stripe.Checkout.Session;
    expect(paid).toMatchObject({ id: session.id, status: "complete", payment_status: "paid" });

    await h.emulator.waitForDeliveries();
    expect(h.receiver.eventsOfType("checkout.session.completed")).toHaveLength(1);
    expect(h.receiver.eventsOfType("charge.succeeded")).toHaveLength(1);
  });
});
