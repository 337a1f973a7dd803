import Stripe from "stripe";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { API_VERSION, PRICE, startHarness, stripeClient, type Harness } from "../../tests/support/emulator-harness";

let h: Harness;

beforeEach(async () => {
  h = await startHarness();
});

afterEach(async () => {
  await h.close();
});

function formPost(path: string, body: string, headers: Record<string, string> = {}) {
  return fetch(`${h.emulator.url}${path}`, {
    method: "POST",
    headers: {
      Authorization: "Bearer sk_test_emulator",
      "Content-Type": "application/x-www-form-urlencoded",
      ...headers,
    },
    body,
  });
}

describe("idempotency", () => {
  test("the same Idempotency-Key on the same request returns the first response, and changes nothing twice", async () => {
    const params: Stripe.Checkout.SessionCreateParams = {
      mode: "payment",
      line_items: [{ price: PRICE.id, quantity: 1 }],
      metadata: { userId: "7" },
      success_url: "https://app.example/ok?id={CHECKOUT_SESSION_ID}",
    };
    const first = await h.stripe.checkout.sessions.create(params, { idempotencyKey: "checkout-7-abc" });
    const second = await h.stripe.checkout.sessions.create(params, { idempotencyKey: "checkout-7-abc" });
    expect(second).toEqual(first);

    const customerA = await h.stripe.customers.create({ email: "a@example.com" }, { idempotencyKey: "cust-7" });
    const customerB = await h.stripe.customers.create({ email: "a@example.com" }, { idempotencyKey: "cust-7" });
    expect(customerB.id).toBe(customerA.id);
    await h.emulator.waitForDeliveries();
    expect(h.receiver.eventsOfType("customer.created")).toHaveLength(1);

    const raw = await formPost("/v1/customers", "email=a%40example.com", { "Idempotency-Key": "cust-7" });
    expect(raw.headers.get("idempotent-replayed")).toBe("true");
    expect(((await raw.json()) as Stripe.Customer).id).toBe(customerA.id);
  });

  test("the SDK keys every POST itself, so two plain creates are two objects", async () => {
    const a = await h.stripe.customers.create({ email: "a@example.com" });
    const b = await h.stripe.customers.create({ email: "a@example.com" });
    expect(a.id).not.toBe(b.id);
  });

  test("a key reused with other parameters or on another endpoint is a StripeIdempotencyError", async () => {
    await h.stripe.customers.create({ email: "a@example.com" }, { idempotencyKey: "key-1" });

    const otherParams = await h.stripe.customers
      .create({ email: "b@example.com" }, { idempotencyKey: "key-1" })
      .catch((e: unknown) => e);
    expect(otherParams).toBeInstanceOf(Stripe.errors.StripeIdempotencyError);
    expect(otherParams).toMatchObject({ statusCode: 400, type: "StripeIdempotencyError" });

    const otherEndpoint = await h.stripe.refunds
      .create({ payment_intent: "pi_x" }, { idempotencyKey: "key-1" })
      .catch((e: unknown) => e);
    expect(otherEndpoint).toBeInstanceOf(Stripe.errors.StripeIdempotencyError);
  });

  test("a failed request is not stored: once its cause is gone, the same key and parameters succeed", async () => {
    const session = await h.createSession();
    await h.pressButton(session, "delayed_success");
    const { payment_intent } = await h.stripe.checkout.sessions.retrieve(session.id);
    const refund = () =>
      h.stripe.refunds.create({ payment_intent: payment_intent as string }, { idempotencyKey: "refund-1" });

    const early = await refund().catch((e: unknown) => e);
    expect(early).toMatchObject({ code: "charge_not_refundable" });

    const settle = await h.driver("/async-payments/settle", {});
    expect(await settle.json()).toEqual({ settled: 1 });
    const later = await refund();
    expect(later).toMatchObject({ object: "refund", amount: 1000 });
    expect(await refund()).toEqual(later);
  });
});

describe("HTTP conventions", () => {
  test("answers in Stripe's error shape, with Request-Id and Stripe-Version headers", async () => {
    const response = await formPost(
      "/v1/checkout/sessions",
      "mode=payment&line_items[0][price]=price_nope&line_items[0][quantity]=1",
      { "Stripe-Version": API_VERSION },
    );
    expect(response.status).toBe(400);
    expect(response.headers.get("content-type")).toContain("application/json");
    expect(response.headers.get("request-id")).toMatch(/^req_\w{14}$/);
    expect(response.headers.get("stripe-version")).toBe(API_VERSION);
    expect(await response.json()).toEqual({
      error: {
        type: "invalid_request_error",
        message: "No such price: 'price_nope'",
        param: "line_items[0][price]",
        code: "resource_missing",
        doc_url: "https://stripe.com/docs/error-codes/resource-missing",
      },
    });
  });

  test("requires a test-mode secret key", async () => {
    const missing = await fetch(`${h.emulator.url}/v1/customers/cus_x`);
    expect(missing.status).toBe(401);
    expect(await missing.json()).toMatchObject({ error: { type: "invalid_request_error" } });

    const live = await stripeClient(h.emulator.port, "sk_live_123456789012345").customers.create({}).catch(
      (e: unknown) => e,
    );
    expect(live).toBeInstanceOf(Stripe.errors.StripeAuthenticationError);
  });

  test("an unknown URL is a 404 in Stripe's shape", async () => {
    const response = await fetch(`${h.emulator.url}/v1/subscription_schedules`, {
      headers: { Authorization: "Bearer sk_test_emulator" },
    });
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({
      error: { type: "invalid_request_error", message: expect.stringContaining("Unrecognized request URL (GET: /v1/subscription_schedules)") },
    });
  });

  test("refuses JSON bodies, as Stripe's v1 API does", async () => {
    const response = await formPost("/v1/customers", JSON.stringify({ email: "a@example.com" }), {
      "Content-Type": "application/json",
    });
    expect(response.status).toBe(400);
  });

  test("an unexpandable field is refused", async () => {
    const customer = await h.stripe.customers.create({});
    const error = await h.stripe.customers.retrieve(customer.id, { expand: ["nope"] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect(error).toMatchObject({ param: "expand" });
  });

  test("events can be read back through the API", async () => {
    const session = await h.paySession();
    const list = await h.stripe.events.list({ type: "checkout.session.completed" });
    expect(list.data).toHaveLength(1);
    const [event] = list.data;
    expect(event).toMatchObject({ type: "checkout.session.completed", pending_webhooks: 0 });
    expect((event.data.object as Stripe.Checkout.Session).id).toBe(session.id);
    expect(await h.stripe.events.retrieve(event.id)).toEqual(event);
  });
});
