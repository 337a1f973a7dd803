import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import Stripe from "stripe";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { CANCEL_URL, SUCCESS_URL, startHarness, type Harness } from "../../tests/support/emulator-harness";

// Charging a saved card while the customer is away (auto-recharge): POST /v1/payment_intents with
// confirm=true and off_session=true. The test card decides: it succeeds, the bank wants the
// customer to authenticate, or it declines.

let h: Harness;

beforeEach(async () => {
  h = await startHarness();
});

afterEach(async () => {
  await h.close();
});

const PAYMENT_EVENTS = ["payment_intent.created", "charge.succeeded", "charge.failed", "payment_intent.succeeded", "payment_intent.payment_failed"];

async function paymentEvents(): Promise<Stripe.Event[]> {
  return (await h.eventLog()).filter((event) => PAYMENT_EVENTS.includes(event.type));
}

/** A customer with a card saved in a setup-mode Checkout Session (as the billing page does). */
async function customerWithCard(card: string): Promise<{ customer: Stripe.Customer; paymentMethod: string }> {
  const customer = await h.stripe.customers.create({ email: "ada@example.com", metadata: { userId: "7" } });
  const session = await h.stripe.checkout.sessions.create({
    mode: "setup",
    currency: "usd",
    customer: customer.id,
    success_url: SUCCESS_URL,
    cancel_url: CANCEL_URL,
  });
  const response = await h.driver(`/checkout/sessions/${session.id}/pay`, { card });
  expect(response.status).toBe(200);
  const setupIntent = await h.stripe.setupIntents.retrieve(((await response.json()) as Stripe.Checkout.Session).setup_intent as string);
  return { customer, paymentMethod: setupIntent.payment_method as string };
}

function recharge(customer: string, paymentMethod: string, extra: Partial<Stripe.PaymentIntentCreateParams> = {}) {
  return {
    amount: 1000,
    currency: "usd",
    customer,
    payment_method: paymentMethod,
    off_session: true,
    confirm: true,
    allowed_payment_method_types: ["card"],
    description: "Auto-recharge: 100 credits",
    metadata: { userId: "7", pack: "credits_100", crossing: "42" },
    ...extra,
  } satisfies Stripe.PaymentIntentCreateParams;
}

describe("a card that pays (4242)", () => {
  test("succeeds at once: a Charge, and payment_intent.created, charge.succeeded, payment_intent.succeeded in that order", async () => {
    const { customer, paymentMethod } = await customerWithCard("4242424242424242");
    const paymentIntent = await h.stripe.paymentIntents.create(recharge(customer.id, paymentMethod), { idempotencyKey: "recharge-7-42" });

    expect(paymentIntent.id).toMatch(/^pi_\w{24}$/);
    expect(paymentIntent).toMatchObject({
      object: "payment_intent",
      status: "succeeded",
      amount: 1000,
      amount_received: 1000,
      currency: "usd",
      customer: customer.id,
      payment_method: paymentMethod,
      payment_method_types: ["card"],
      allowed_payment_method_types: ["card"],
      automatic_payment_methods: { enabled: true, allow_redirects: "always" },
      setup_future_usage: null,
      last_payment_error: null,
      next_action: null,
      description: "Auto-recharge: 100 credits",
      metadata: { userId: "7", pack: "credits_100", crossing: "42" },
    });
    const charge = await h.stripe.charges.retrieve(paymentIntent.latest_charge as string);
    expect(charge).toMatchObject({
      status: "succeeded",
      paid: true,
      amount: 1000,
      customer: customer.id,
      payment_intent: paymentIntent.id,
      payment_method: paymentMethod,
      metadata: { userId: "7", pack: "credits_100", crossing: "42" },
      payment_method_details: { type: "card", card: { brand: "visa", last4: "4242" } },
    });
    expect(await h.stripe.paymentIntents.retrieve(paymentIntent.id)).toEqual(paymentIntent);

    await h.emulator.waitForDeliveries();
    const events = await paymentEvents();
    expect(events.map((event) => event.type)).toEqual(["payment_intent.created", "charge.succeeded", "payment_intent.succeeded"]);
    expect(events[0].data.object).toMatchObject({ id: paymentIntent.id, status: "requires_confirmation", latest_charge: null });
    for (const event of events) expect(event.request).toEqual({ id: expect.stringMatching(/^req_/), idempotency_key: "recharge-7-42" });
    // The webhooks arrived signed and verified, the succeeded one with the metadata the app grants from.
    const [succeeded] = h.receiver.eventsOfType("payment_intent.succeeded");
    expect(succeeded.data.object).toEqual(paymentIntent);
    expect(h.receiver.rejected).toEqual([]);
  });

  test("an idempotent replay answers the same PaymentIntent and charges nothing more; other parameters are refused", async () => {
    const { customer, paymentMethod } = await customerWithCard("4242424242424242");
    const first = await h.stripe.paymentIntents.create(recharge(customer.id, paymentMethod), { idempotencyKey: "crossing-1" });
    const replay = await h.stripe.paymentIntents.create(recharge(customer.id, paymentMethod), { idempotencyKey: "crossing-1" });
    expect(replay.id).toBe(first.id);
    expect(replay.lastResponse.headers["idempotent-replayed"]).toBe("true");

    const conflicting = await h.stripe.paymentIntents
      .create(recharge(customer.id, paymentMethod, { amount: 2000 }), { idempotencyKey: "crossing-1" })
      .catch((e: unknown) => e);
    expect(conflicting).toBeInstanceOf(Stripe.errors.StripeIdempotencyError);

    const other = await h.stripe.paymentIntents.create(recharge(customer.id, paymentMethod), { idempotencyKey: "crossing-2" });
    expect(other.id).not.toBe(first.id);
    await h.emulator.waitForDeliveries();
    expect((await paymentEvents()).filter((event) => event.type === "payment_intent.succeeded")).toHaveLength(2);
    const listed = await h.stripe.paymentIntents.list({ customer: customer.id });
    expect(listed.data.map((pi) => pi.id)).toEqual([other.id, first.id]);
  });

  test("its charge is refunded and disputed like any other", async () => {
    const { customer, paymentMethod } = await customerWithCard("4242424242424242");
    const paymentIntent = await h.stripe.paymentIntents.create(recharge(customer.id, paymentMethod));
    const refund = await h.stripe.refunds.create({ payment_intent: paymentIntent.id, amount: 400 });
    expect(refund).toMatchObject({ status: "succeeded", amount: 400, charge: paymentIntent.latest_charge });
    const dispute = await h.driver(`/charges/${paymentIntent.latest_charge as string}/disputes`, { amount: 600 });
    expect(dispute.status).toBe(200);
    expect(await dispute.json()).toMatchObject({ payment_intent: paymentIntent.id, amount: 600 });
  });

  test("Stripe's test PaymentMethod ids pay directly, each time with a new PaymentMethod", async () => {
    const customer = await h.stripe.customers.create({});
    const first = await h.stripe.paymentIntents.create(recharge(customer.id, "pm_card_visa"));
    const second = await h.stripe.paymentIntents.create(recharge(customer.id, "pm_card_visa"));
    expect(first.status).toBe("succeeded");
    expect(first.payment_method).toMatch(/^pm_\w{24}$/);
    expect(second.payment_method).not.toBe(first.payment_method);
    const paymentMethod = await h.stripe.paymentMethods.retrieve(first.payment_method as string);
    expect(paymentMethod).toMatchObject({ customer: null, card: { last4: "4242" } });
  });
});

describe("a card that needs the customer (authentication_required)", () => {
  test("4000002760003184, saved: a 402 card error naming a PaymentIntent that requires a payment method, and a failed charge", async () => {
    const { customer, paymentMethod } = await customerWithCard("4000002760003184");
    const error = await h.stripe.paymentIntents
      .create(recharge(customer.id, paymentMethod), { idempotencyKey: "crossing-auth" })
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(Stripe.errors.StripeCardError);
    const cardError = error as Stripe.errors.StripeCardError;
    expect(cardError).toMatchObject({
      statusCode: 402,
      code: "authentication_required",
      decline_code: "authentication_required",
      message: "Your card was declined. This transaction requires authentication.",
    });
    const paymentIntent = cardError.payment_intent as Stripe.PaymentIntent;
    expect(paymentIntent).toMatchObject({
      status: "requires_payment_method",
      payment_method: null,
      amount_received: 0,
      metadata: { userId: "7", pack: "credits_100", crossing: "42" },
      last_payment_error: {
        type: "card_error",
        code: "authentication_required",
        decline_code: "authentication_required",
        payment_method: { id: paymentMethod, customer: customer.id },
      },
    });
    expect(cardError.payment_method).toMatchObject({ id: paymentMethod });
    expect(cardError.raw).toMatchObject({ charge: paymentIntent.latest_charge });
    expect(await h.stripe.paymentIntents.retrieve(paymentIntent.id)).toEqual(paymentIntent);
    const charge = await h.stripe.charges.retrieve(paymentIntent.latest_charge as string);
    expect(charge).toMatchObject({
      status: "failed",
      paid: false,
      failure_code: "authentication_required",
      outcome: { type: "issuer_declined", reason: "authentication_required" },
    });

    await h.emulator.waitForDeliveries();
    expect((await paymentEvents()).map((event) => event.type)).toEqual([
      "payment_intent.created",
      "charge.failed",
      "payment_intent.payment_failed",
    ]);
    const [failed] = h.receiver.eventsOfType("payment_intent.payment_failed");
    expect(failed.data.object).toEqual(paymentIntent);

    // The same key again: the same refusal and the same PaymentIntent, not a second attempt.
    const replay = await h.stripe.paymentIntents
      .create(recharge(customer.id, paymentMethod), { idempotencyKey: "crossing-auth" })
      .catch((e: unknown) => e);
    expect(replay).toBeInstanceOf(Stripe.errors.StripeCardError);
    expect((replay as Stripe.errors.StripeCardError).payment_intent?.id).toBe(paymentIntent.id);
    expect((replay as Stripe.errors.StripeCardError).headers?.["idempotent-replayed"]).toBe("true");
    expect(await paymentEvents()).toHaveLength(3);
    // Nothing was paid, so there is nothing to refund.
    const refund = await h.stripe.refunds.create({ payment_intent: paymentIntent.id }).catch((e: unknown) => e);
    expect(refund).toMatchObject({ statusCode: 400, code: "charge_not_refundable" });
  });

  test("4000002500003155 needs it only until it is set up: saved through Checkout it pays, as a bare test id it does not", async () => {
    const { customer, paymentMethod } = await customerWithCard("4000002500003155");
    expect((await h.stripe.paymentIntents.create(recharge(customer.id, paymentMethod))).status).toBe("succeeded");

    const bare = await h.stripe.paymentIntents
      .create(recharge(customer.id, "pm_card_authenticationRequiredOnSetup"))
      .catch((e: unknown) => e);
    expect(bare).toMatchObject({ statusCode: 402, code: "authentication_required" });
    const viaToken = await h.stripe.paymentIntents.create(recharge(customer.id, "pm_card_authenticationRequired")).catch((e: unknown) => e);
    expect(viaToken).toMatchObject({ statusCode: 402, code: "authentication_required" });
  });
});

describe("a card that is declined", () => {
  test("pm_card_chargeDeclinedInsufficientFunds: 402 card_declined / insufficient_funds, charge.failed, payment_intent.payment_failed", async () => {
    const customer = await h.stripe.customers.create({});
    const error = await h.stripe.paymentIntents
      .create(recharge(customer.id, "pm_card_chargeDeclinedInsufficientFunds"))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Stripe.errors.StripeCardError);
    expect(error).toMatchObject({
      statusCode: 402,
      code: "card_declined",
      decline_code: "insufficient_funds",
      message: "Your card has insufficient funds.",
      payment_intent: { status: "requires_payment_method", last_payment_error: { decline_code: "insufficient_funds" } },
    });
    await h.emulator.waitForDeliveries();
    expect((await paymentEvents()).map((event) => event.type)).toEqual([
      "payment_intent.created",
      "charge.failed",
      "payment_intent.payment_failed",
    ]);
    const [failedCharge] = h.receiver.eventsOfType("charge.failed");
    expect(failedCharge.data.object).toMatchObject({ failure_code: "card_declined", outcome: { reason: "insufficient_funds" } });
  });

  test("4000000000000341 saves, then every charge is declined (generic_decline)", async () => {
    const { customer, paymentMethod } = await customerWithCard("4000000000000341");
    const error = await h.stripe.paymentIntents.create(recharge(customer.id, paymentMethod)).catch((e: unknown) => e);
    expect(error).toMatchObject({ statusCode: 402, code: "card_declined", decline_code: "generic_decline" });
  });
});

describe("what Stripe refuses", () => {
  test("unknown parameters, a payment with the customer present, and the rules of off-session confirmation", async () => {
    const { customer, paymentMethod } = await customerWithCard("4242424242424242");
    const refuse = (params: Record<string, unknown>) =>
      h.stripe.paymentIntents.create(params as unknown as Stripe.PaymentIntentCreateParams).catch((e: unknown) => e);

    const unknown = await refuse({ ...recharge(customer.id, paymentMethod), capture_method: "manual" });
    expect(unknown).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect(unknown).toMatchObject({ param: "capture_method", code: "parameter_unknown" });
    expect(String((unknown as Error).message)).toContain("Received unknown parameter: capture_method");

    expect(await refuse({ ...recharge(customer.id, paymentMethod), confirm: false })).toMatchObject({ param: "confirm" });
    expect(await refuse({ ...recharge(customer.id, paymentMethod), off_session: undefined })).toMatchObject({ param: "off_session" });
    expect(await refuse({ ...recharge(customer.id, paymentMethod), payment_method: undefined })).toMatchObject({
      param: "payment_method",
    });
    expect(await refuse({ ...recharge(customer.id, paymentMethod), setup_future_usage: "off_session" })).toMatchObject({
      param: "setup_future_usage",
    });
    // `payment_method_types` is not a parameter of this API version.
    expect(await refuse({ ...recharge(customer.id, paymentMethod), payment_method_types: ["card"] })).toMatchObject({
      param: "payment_method_types",
      code: "parameter_unknown",
    });
    expect(await refuse({ ...recharge(customer.id, paymentMethod), allowed_payment_method_types: ["sepa_debit"] })).toMatchObject({
      param: "allowed_payment_method_types",
    });
    // Not limited to cards, the Dashboard's methods apply, some of which redirect.
    const noReturn = await refuse({ ...recharge(customer.id, paymentMethod), allowed_payment_method_types: undefined });
    expect(noReturn).toMatchObject({ statusCode: 400, param: "return_url" });
    expect(String((noReturn as Error).message)).toContain("A `return_url` must be specified");
    const noRedirects = await h.stripe.paymentIntents.create(
      recharge(customer.id, paymentMethod, {
        allowed_payment_method_types: undefined,
        automatic_payment_methods: { enabled: true, allow_redirects: "never" },
      }),
    );
    expect(noRedirects).toMatchObject({
      status: "succeeded",
      allowed_payment_method_types: null,
      automatic_payment_methods: { enabled: true, allow_redirects: "never" },
    });
    const withReturn = await h.stripe.paymentIntents.create(
      recharge(customer.id, paymentMethod, { allowed_payment_method_types: undefined, return_url: "https://app.example/billing" }),
    );
    expect(withReturn.status).toBe("succeeded");

    // A saved card belongs to its customer.
    const stranger = await h.stripe.customers.create({});
    expect(await refuse(recharge(stranger.id, paymentMethod))).toMatchObject({ statusCode: 400, param: "payment_method" });
    expect(await refuse({ ...recharge(customer.id, paymentMethod), customer: undefined })).toMatchObject({ param: "customer" });
    expect(await refuse(recharge(customer.id, "pm_nope"))).toMatchObject({ code: "resource_missing", param: "payment_method" });
    await h.stripe.paymentMethods.detach(paymentMethod);
    expect(await refuse(recharge(customer.id, paymentMethod))).toMatchObject({ statusCode: 400, param: "payment_method" });

    // Only the ones that ran made a PaymentIntent; refusals leave nothing behind.
    expect((await h.stripe.paymentIntents.list({ customer: customer.id })).data).toHaveLength(2);
  });
});

describe("after a restart", () => {
  test("a saved card is still saved, still set up, and a refused payment still replays for its key", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "stripe-emulator-"));
    try {
      const dbPath = path.join(dir, "stripe.sqlite");
      await h.close();
      h = await startHarness({ emulator: { dbPath } });
      const setUp = await customerWithCard("4000002500003155");
      const alwaysAuth = await customerWithCard("4000002760003184");
      const refused = await h.stripe.paymentIntents
        .create(recharge(alwaysAuth.customer.id, alwaysAuth.paymentMethod), { idempotencyKey: "before-restart" })
        .catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(Stripe.errors.StripeCardError);
      await h.close();

      h = await startHarness({ emulator: { dbPath } });
      const listed = await h.stripe.customers.listPaymentMethods(setUp.customer.id);
      expect(listed.data.map((pm) => pm.id)).toEqual([setUp.paymentMethod]);
      expect((await h.stripe.paymentIntents.create(recharge(setUp.customer.id, setUp.paymentMethod))).status).toBe("succeeded");
      const replay = await h.stripe.paymentIntents
        .create(recharge(alwaysAuth.customer.id, alwaysAuth.paymentMethod), { idempotencyKey: "before-restart" })
        .catch((e: unknown) => e);
      expect((replay as Stripe.errors.StripeCardError).payment_intent?.id).toBe(
        (refused as Stripe.errors.StripeCardError).payment_intent?.id,
      );
    } finally {
      await h.close();
      h = await startHarness();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
