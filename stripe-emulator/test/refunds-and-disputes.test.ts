import Stripe from "stripe";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { startHarness, type Harness } from "../../tests/support/emulator-harness";

let h: Harness;

beforeEach(async () => {
  h = await startHarness();
});

afterEach(async () => {
  await h.close();
});

/** A paid session's PaymentIntent id and Charge. */
async function paidCharge(): Promise<{ paymentIntentId: string; charge: Stripe.Charge }> {
  const session = await h.paySession();
  const paymentIntentId = session.payment_intent as string;
  const paymentIntent = await h.stripe.paymentIntents.retrieve(paymentIntentId, { expand: ["latest_charge"] });
  return { paymentIntentId, charge: paymentIntent.latest_charge as Stripe.Charge };
}

describe("refunds", () => {
  test("a full refund by payment_intent refunds the charge and emits charge.refunded", async () => {
    const { paymentIntentId, charge } = await paidCharge();

    const refund: Stripe.Refund = await h.stripe.refunds.create({ payment_intent: paymentIntentId });
    expect(refund.id).toMatch(/^re_\w{24}$/);
    expect(refund).toMatchObject({
      object: "refund",
      amount: 1000,
      currency: "usd",
      status: "succeeded",
      charge: charge.id,
      payment_intent: paymentIntentId,
    });

    const refunded = await h.stripe.charges.retrieve(charge.id);
    expect(refunded).toMatchObject({ amount_refunded: 1000, refunded: true });

    await h.emulator.waitForDeliveries();
    const [event] = h.receiver.eventsOfType("charge.refunded");
    expect(event.data.object).toMatchObject({ id: charge.id, amount: 1000, amount_refunded: 1000, refunded: true });
    expect(event.data.previous_attributes).toEqual({ amount_refunded: 0, refunded: false });
    expect(event.request?.id).toMatch(/^req_/);
    expect(event.request?.idempotency_key).toMatch(/^stripe-node-retry-/);
    const [created] = h.receiver.eventsOfType("refund.created");
    expect(created.data.object).toEqual(refund);
  });

  test("partial refunds accumulate until the charge is fully refunded", async () => {
    const { paymentIntentId, charge } = await paidCharge();

    await h.stripe.refunds.create({ charge: charge.id, amount: 300, reason: "requested_by_customer" });
    expect(await h.stripe.charges.retrieve(charge.id)).toMatchObject({ amount_refunded: 300, refunded: false });

    await h.stripe.refunds.create({ payment_intent: paymentIntentId, amount: 200 });
    expect(await h.stripe.charges.retrieve(charge.id)).toMatchObject({ amount_refunded: 500, refunded: false });

    const rest = await h.stripe.refunds.create({ payment_intent: paymentIntentId });
    expect(rest.amount).toBe(500);
    const final = await h.stripe.charges.retrieve(charge.id, { expand: ["refunds"] });
    expect(final).toMatchObject({ amount_refunded: 1000, refunded: true });
    expect(final.refunds?.data.map((refund) => refund.amount)).toEqual([300, 200, 500]);

    await h.emulator.waitForDeliveries();
    const events = h.receiver.eventsOfType("charge.refunded");
    expect(events.map((event) => event.data.object.amount_refunded).sort((a, b) => a - b)).toEqual([300, 500, 1000]);
  });

  test("refuses to refund more than remains, and refuses a fully refunded charge", async () => {
    const { paymentIntentId, charge } = await paidCharge();
    await h.stripe.refunds.create({ charge: charge.id, amount: 400 });

    const tooMuch = await h.stripe.refunds.create({ charge: charge.id, amount: 601 }).catch((e: unknown) => e);
    expect(tooMuch).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect(tooMuch).toMatchObject({
      statusCode: 400,
      param: "amount",
      code: "amount_too_large",
      message: "Refund amount ($6.01) is greater than unrefunded amount on charge ($6.00)",
    });
    expect(await h.stripe.charges.retrieve(charge.id)).toMatchObject({ amount_refunded: 400, refunded: false });

    await h.stripe.refunds.create({ payment_intent: paymentIntentId });
    const again = await h.stripe.refunds.create({ payment_intent: paymentIntentId }).catch((e: unknown) => e);
    expect(again).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect(again).toMatchObject({ code: "charge_already_refunded" });
  });

  test("refuses refunds that name nothing, an unknown payment, or an unsettled one", async () => {
    const nothing = await h.stripe.refunds.create({}).catch((e: unknown) => e);
    expect(nothing).toMatchObject({ code: "parameter_missing" });

    const unknown = await h.stripe.refunds.create({ payment_intent: "pi_nope" }).catch((e: unknown) => e);
    expect(unknown).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect(unknown).toMatchObject({ statusCode: 400, code: "resource_missing", param: "payment_intent" });

    const session = await h.createSession();
    await h.pressButton(session, "delayed_success"); // the bank has not answered yet
    const processing = await h.stripe.checkout.sessions.retrieve(session.id);
    const pending = await h.stripe.refunds
      .create({ payment_intent: processing.payment_intent as string })
      .catch((e: unknown) => e);
    expect(pending).toMatchObject({ code: "charge_not_refundable" });
  });
});

describe("disputes", () => {
  test("the test driver opens a dispute: charge.dispute.created carries a Stripe.Dispute", async () => {
    const { paymentIntentId, charge } = await paidCharge();

    const response = await h.driver(`/charges/${charge.id}/disputes`, { reason: "fraudulent" });
    expect(response.status).toBe(200);
    const dispute = (await response.json()) as Stripe.Dispute;
    expect(dispute.id).toMatch(/^dp_\w{24}$/);
    expect(dispute).toMatchObject({
      object: "dispute",
      amount: 1000,
      currency: "usd",
      charge: charge.id,
      payment_intent: paymentIntentId,
      reason: "fraudulent",
      status: "needs_response",
      is_charge_refundable: false,
    });
    expect(await h.stripe.disputes.retrieve(dispute.id)).toEqual(dispute);
    expect(await h.stripe.charges.retrieve(charge.id)).toMatchObject({ disputed: true });

    await h.emulator.waitForDeliveries();
    const [event] = h.receiver.eventsOfType("charge.dispute.created");
    expect(event.data.object).toEqual(dispute);

    // A charged-back payment cannot also be refunded.
    const refund = await h.stripe.refunds.create({ charge: charge.id }).catch((e: unknown) => e);
    expect(refund).toMatchObject({ code: "charge_disputed" });
    // Nor disputed twice.
    expect((await h.driver(`/charges/${charge.id}/disputes`, {})).status).toBe(400);
  });

  test("closing a dispute emits charge.dispute.closed", async () => {
    const { charge } = await paidCharge();
    const dispute = (await (await h.driver(`/charges/${charge.id}/disputes`, { amount: 500 })).json()) as Stripe.Dispute;
    expect(dispute.amount).toBe(500);

    const closed = await h.driver(`/disputes/${dispute.id}/close`, { status: "lost" });
    expect(closed.status).toBe(200);
    await h.emulator.waitForDeliveries();
    const [event] = h.receiver.eventsOfType("charge.dispute.closed");
    expect(event.data.object).toMatchObject({ id: dispute.id, status: "lost" });
  });

  test("an unknown charge cannot be disputed", async () => {
    const response = await h.driver("/charges/ch_nope/disputes", {});
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({
      error: { type: "invalid_request_error", code: "resource_missing", message: "No such charge: 'ch_nope'" },
    });
  });
});
