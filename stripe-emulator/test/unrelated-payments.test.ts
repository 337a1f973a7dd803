import type Stripe from "stripe";
import { afterEach, beforeEach, expect, test } from "vitest";
import { startHarness, type Harness } from "../../tests/support/emulator-harness";

// Another product sold on the same Stripe account: a payment with no Checkout Session and no
// metadata, which the app must recognise as not its own when it is refunded or disputed.

let h: Harness;

beforeEach(async () => {
  h = await startHarness();
});

afterEach(async () => {
  await h.close();
});

type UnrelatedPayment = { customer: Stripe.Customer; payment_intent: Stripe.PaymentIntent; charge: Stripe.Charge };

async function createUnrelatedPayment(body: unknown): Promise<UnrelatedPayment> {
  const response = await h.driver("/unrelated-payments", body);
  const json = (await response.json()) as UnrelatedPayment;
  expect(response.status, JSON.stringify(json)).toBe(200);
  return json;
}

test("creates a succeeded card payment with no metadata, for a new customer with none either", async () => {
  const { customer, payment_intent, charge } = await createUnrelatedPayment({ email: "other@example.com", amount: 4200 });

  expect(customer).toMatchObject({ object: "customer", email: "other@example.com", metadata: {} });
  expect(payment_intent).toMatchObject({
    object: "payment_intent",
    status: "succeeded",
    amount: 4200,
    amount_received: 4200,
    currency: "usd",
    customer: customer.id,
    metadata: {},
    latest_charge: charge.id,
  });
  expect(charge).toMatchObject({
    object: "charge",
    status: "succeeded",
    paid: true,
    amount: 4200,
    customer: customer.id,
    payment_intent: payment_intent.id,
    metadata: {},
    billing_details: { email: "other@example.com" },
  });
  expect(await h.stripe.paymentIntents.retrieve(payment_intent.id)).toEqual(payment_intent);
  expect(await h.stripe.charges.retrieve(charge.id)).toEqual(charge);
  expect(await h.stripe.customers.retrieve(customer.id)).toEqual(customer);

  await h.emulator.waitForDeliveries();
  expect(h.receiver.eventsOfType("charge.succeeded").map((event) => event.data.object.id)).toEqual([charge.id]);
  expect(h.receiver.eventsOfType("payment_intent.succeeded").map((event) => event.data.object.id)).toEqual([
    payment_intent.id,
  ]);
  expect(h.receiver.eventsOfType("checkout.session.completed")).toEqual([]);
});

test("can be refunded with the SDK and disputed with the driver, like any payment", async () => {
  const { payment_intent, charge } = await createUnrelatedPayment({});
  expect(payment_intent.amount).toBe(2500);

  const refund = await h.stripe.refunds.create({ payment_intent: payment_intent.id, amount: 500 });
  expect(refund).toMatchObject({ charge: charge.id, amount: 500, status: "succeeded" });

  const dispute = await h.driver(`/charges/${charge.id}/disputes`, {});
  expect(dispute.status).toBe(200);
  expect(await dispute.json()).toMatchObject({ charge: charge.id, payment_intent: payment_intent.id });

  await h.emulator.waitForDeliveries();
  const [refunded] = h.receiver.eventsOfType("charge.refunded");
  expect(refunded.data.object).toMatchObject({ id: charge.id, metadata: {}, amount_refunded: 500 });
  const [disputed] = h.receiver.eventsOfType("charge.dispute.created");
  expect(disputed.data.object).toMatchObject({ charge: charge.id });
});

test("can be made by an existing customer, and refuses an unknown one", async () => {
  const existing = await h.stripe.customers.create({ email: "ada@example.com", metadata: { userId: "7" } });
  const { customer, charge } = await createUnrelatedPayment({ customer: existing.id, currency: "EUR" });
  expect(customer.id).toBe(existing.id);
  expect(charge).toMatchObject({ customer: existing.id, currency: "eur", metadata: {} });

  const unknown = await h.driver("/unrelated-payments", { customer: "cus_nope" });
  expect(unknown.status).toBe(400);
  expect(await unknown.json()).toMatchObject({ error: { code: "resource_missing", param: "customer" } });
  const both = await h.driver("/unrelated-payments", { customer: existing.id, email: "x@example.com" });
  expect(both.status).toBe(400);
  const unknownField = await h.driver("/unrelated-payments", { metadata: { userId: "7" } });
  expect(unknownField.status).toBe(400);
});
