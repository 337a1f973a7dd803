import type Stripe from "stripe";
import { afterEach, beforeEach, expect, test } from "vitest";
import fixtureFile from "../fixtures/stripe-fixtures.json";
import { PRICE, startHarness, type Harness } from "../../tests/support/emulator-harness";

/**
 * The compiler checks the emulator's objects against the SDK's types; this checks them against
 * Stripe's own example objects: every field Stripe shows is there.
 */

let h: Harness;

beforeEach(async () => {
  h = await startHarness();
});

afterEach(async () => {
  await h.close();
});

const fixtures = fixtureFile.resources as Record<string, Record<string, unknown>>;

function expectFieldsOf(fixtureName: string, object: object, except: string[] = []): void {
  const expected = Object.keys(fixtures[fixtureName]).filter((key) => !except.includes(key));
  expect(Object.keys(object).sort()).toEqual(expect.arrayContaining(expected.sort()));
}

test("the emulator's objects carry every field of Stripe's example objects", async () => {
  const customer = await h.stripe.customers.create({ email: "a@example.com" });
  expectFieldsOf("customer", customer);

  const price = await h.stripe.prices.retrieve(PRICE.id);
  expectFieldsOf("price", price);
  expectFieldsOf("product", await h.stripe.products.retrieve(price.product as string));

  const session = await h.paySession({ customer: customer.id });
  expectFieldsOf("checkout.session", session);
  const [item] = (await h.stripe.checkout.sessions.listLineItems(session.id)).data;
  expectFieldsOf("item", item);

  const paymentIntent = await h.stripe.paymentIntents.retrieve(session.payment_intent as string);
  expectFieldsOf("payment_intent", paymentIntent);
  const charge: Stripe.Charge = await h.stripe.charges.retrieve(paymentIntent.latest_charge as string);
  // `refunds` is only included when expanded (API versions since 2022-11-15).
  expectFieldsOf("charge", charge, ["refunds"]);

  expectFieldsOf("refund", await h.stripe.refunds.create({ charge: charge.id, amount: 100 }));
  const dispute = (await (await h.driver(`/charges/${charge.id}/disputes`, {})).json()) as Stripe.Dispute;
  expectFieldsOf("dispute", dispute);
  // A chargeback carries the balance transaction that withdrew its amount.
  expect(dispute.balance_transactions).toHaveLength(1);
  expectFieldsOf("balance_transaction", dispute.balance_transactions[0]);

  const setup = await h.stripe.checkout.sessions.create({ mode: "setup", currency: "usd", customer: customer.id });
  const saved = (await (await h.driver(`/checkout/sessions/${setup.id}/pay`, {})).json()) as Stripe.Checkout.Session;
  expectFieldsOf("checkout.session", saved);
  const setupIntent = await h.stripe.setupIntents.retrieve(saved.setup_intent as string);
  expectFieldsOf("setup_intent", setupIntent);
  const paymentMethod = await h.stripe.paymentMethods.retrieve(setupIntent.payment_method as string);
  expectFieldsOf("payment_method", paymentMethod);
  const fixtureCard = fixtures.payment_method.card as Record<string, unknown>;
  expect(Object.keys(paymentMethod.card ?? {})).toEqual(expect.arrayContaining(Object.keys(fixtureCard)));
  const offSession = await h.stripe.paymentIntents.create({
    amount: 500,
    currency: "usd",
    customer: customer.id,
    payment_method: paymentMethod.id,
    off_session: true,
    confirm: true,
    allowed_payment_method_types: ["card"],
  });
  expectFieldsOf("payment_intent", offSession);
  expectFieldsOf("charge", await h.stripe.charges.retrieve(offSession.latest_charge as string), ["refunds"]);

  await h.emulator.waitForDeliveries();
  for (const { event } of h.receiver.received) expectFieldsOf("event", event);
});
