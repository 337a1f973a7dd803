import Stripe from "stripe";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { CANCEL_URL, PLAN_BASIC, PLAN_PRO, PRICE, SUCCESS_URL, startHarness, type Harness } from "../../tests/support/emulator-harness";

let h: Harness;

beforeEach(async () => {
  h = await startHarness();
});

afterEach(async () => {
  await h.close();
});

/** A subscription bought through the hosted checkout page (Pay), and the types of the events it caused. */
async function subscribe(price = PLAN_BASIC.id) {
  const customer = await h.stripe.customers.create({ email: "ada@example.com", name: "Ada" });
  const session = await h.stripe.checkout.sessions.create({
    mode: "subscription",
    line_items: [{ price, quantity: 1 }],
    customer: customer.id,
    metadata: { userId: "7" },
    subscription_data: { metadata: { userId: "7", plan: "basic" } },
    allow_promotion_codes: true,
    success_url: SUCCESS_URL,
    cancel_url: CANCEL_URL,
  });
  const before = (await h.eventLog()).length;
  const response = await h.pressButton(session, "pay");
  expect(response.status).toBe(303);
  const events = (await h.eventLog()).slice(before);
  const completed = await h.stripe.checkout.sessions.retrieve(session.id);
  const subscription = await h.stripe.subscriptions.retrieve(completed.subscription as string);
  return { customer, session: completed, subscription, events };
}

async function eventsDuring(action: () => Promise<unknown>): Promise<Stripe.Event[]> {
  const before = (await h.eventLog()).length;
  await action();
  return (await h.eventLog()).slice(before);
}

const DAY = 86_400;

describe("Checkout in subscription mode", () => {
  test("paying creates an active subscription and its paid first invoice, with Stripe's events in Stripe's order", async () => {
    const { customer, session, subscription, events } = await subscribe();

    expect(events.map((event) => event.type)).toEqual([
      "customer.subscription.created",
      "invoice.created",
      "invoice.finalized",
      "charge.succeeded",
      "payment_intent.succeeded",
      "invoice_payment.paid",
      "invoice.paid",
      "invoice.payment_succeeded",
      "checkout.session.completed",
    ]);
    expect(session).toMatchObject({ mode: "subscription", status: "complete", payment_status: "paid", payment_intent: null });
    expect(subscription.id).toMatch(/^sub_\w{24}$/);
    const item = subscription.items.data[0];
    expect(subscription).toMatchObject({
      object: "subscription",
      status: "active",
      customer: customer.id,
      cancel_at_period_end: false,
      metadata: { userId: "7", plan: "basic" },
      latest_invoice: session.invoice,
    });
    expect(item).toMatchObject({ object: "subscription_item", quantity: 1, price: { id: PLAN_BASIC.id, type: "recurring" } });
    expect(item.price.recurring).toMatchObject({ interval: "month", interval_count: 1 });
    const length = item.current_period_end - item.current_period_start;
    expect(length).toBeGreaterThanOrEqual(28 * DAY);
    expect(length).toBeLessThanOrEqual(31 * DAY);

    const invoice = await h.stripe.invoices.retrieve(session.invoice as string, { expand: ["payments"] });
    expect(invoice).toMatchObject({
      object: "invoice",
      status: "paid",
      billing_reason: "subscription_create",
      amount_due: 900,
      amount_paid: 900,
      amount_remaining: 0,
      customer: customer.id,
      customer_email: "ada@example.com",
      parent: {
        type: "subscription_details",
        subscription_details: { subscription: subscription.id, metadata: { userId: "7", plan: "basic" } },
      },
    });
    // The first invoice's own period is a point in time; the line carries the service period.
    expect(invoice.period_start).toBe(invoice.period_end);
    const [line] = invoice.lines.data;
    expect(line.period).toEqual({ start: item.current_period_start, end: item.current_period_end });
    expect(line).toMatchObject({
      amount: 900,
      pricing: { type: "price_details", price_details: { price: PLAN_BASIC.id } },
      parent: { type: "subscription_item_details", subscription_item_details: { subscription: subscription.id, subscription_item: item.id } },
    });
    const payment = invoice.payments?.data[0];
    expect(payment).toMatchObject({ object: "invoice_payment", status: "paid", amount_paid: 900, invoice: invoice.id });
    const paymentIntent = await h.stripe.paymentIntents.retrieve(payment?.payment.payment_intent as string);
    expect(paymentIntent).toMatchObject({ status: "succeeded", amount: 900, customer: customer.id, description: "Subscription creation" });

    // The webhook's copies are signed and say the same.
    await h.emulator.waitForDeliveries();
    const [completed] = h.receiver.eventsOfType("checkout.session.completed");
    expect(completed.data.object).toMatchObject({ subscription: subscription.id, invoice: invoice.id, metadata: { userId: "7" } });
    const [created] = h.receiver.eventsOfType("customer.subscription.created");
    expect(created.data.object).toMatchObject({ id: subscription.id, status: "active" });
  });

  test("the driver's pay does the same; delayed outcomes and wrong kinds of price are refused", async () => {
    const session = await h.stripe.checkout.sessions.create({ mode: "subscription", line_items: [{ price: PLAN_PRO.id, quantity: 1 }] });
    const delayed = await h.driver(`/checkout/sessions/${session.id}/pay`, { outcome: "delayed_success" });
    expect(delayed.status).toBe(400);
    const paid = (await (await h.driver(`/checkout/sessions/${session.id}/pay`, {})).json()) as Stripe.Checkout.Session;
    expect(paid).toMatchObject({ status: "complete", payment_status: "paid", subscription: expect.stringMatching(/^sub_/) });
    // Without a customer, subscription mode always creates one.
    expect(paid.customer).toMatch(/^cus_/);

    const oneTime = await h.stripe.checkout.sessions
      .create({ mode: "subscription", line_items: [{ price: PRICE.id, quantity: 1 }] })
      .catch((e: unknown) => e);
    expect(oneTime).toMatchObject({ statusCode: 400, param: "line_items" });
    const recurringInPayment = await h.stripe.checkout.sessions
      .create({ mode: "payment", line_items: [{ price: PLAN_PRO.id, quantity: 1 }] })
      .catch((e: unknown) => e);
    expect(recurringInPayment).toMatchObject({ statusCode: 400, param: "line_items[0][price]" });
  });
});

describe("changing and canceling", () => {
  test("cancel_at_period_end, then the period ends: customer.subscription.deleted and no invoice", async () => {
    const { subscription } = await subscribe();
    const periodEnd = subscription.items.data[0].current_period_end;
    const events = await eventsDuring(() => h.stripe.subscriptions.update(subscription.id, { cancel_at_period_end: true }));
    expect(events.map((event) => event.type)).toEqual(["customer.subscription.updated"]);
    expect(events[0].data.object).toMatchObject({ cancel_at_period_end: true, cancel_at: periodEnd, status: "active" });
    expect(events[0].data.previous_attributes).toMatchObject({ cancel_at_period_end: false, cancel_at: null });
    expect(events[0].request?.id).toMatch(/^req_/);

    const ended = await eventsDuring(() => h.driver(`/subscriptions/${subscription.id}/advance`, {}));
    expect(ended.map((event) => event.type)).toEqual(["customer.subscription.deleted"]);
    expect(await h.stripe.subscriptions.retrieve(subscription.id)).toMatchObject({ status: "canceled", ended_at: periodEnd });
    expect((await h.stripe.invoices.list({ subscription: subscription.id })).data).toHaveLength(1);
  });

  test("changing the item's price keeps the item and bills the new price at the next renewal (no proration)", async () => {
    const { subscription } = await subscribe();
    const item = subscription.items.data[0];
    const events = await eventsDuring(() =>
      h.stripe.subscriptions.update(subscription.id, { items: [{ id: item.id, price: PLAN_PRO.id }], proration_behavior: "none" }),
    );
    expect(events.map((event) => event.type)).toEqual(["customer.subscription.updated"]);
    const updated = events[0].data.object as Stripe.Subscription;
    expect(updated.items.data[0]).toMatchObject({ id: item.id, price: { id: PLAN_PRO.id }, current_period_end: item.current_period_end });
    expect(events[0].data.previous_attributes).toMatchObject({ items: { data: [{ price: { id: PLAN_BASIC.id } }] } });

    await h.driver(`/subscriptions/${subscription.id}/advance`, {});
    const [renewal] = (await h.stripe.invoices.list({ subscription: subscription.id })).data;
    expect(renewal).toMatchObject({ billing_reason: "subscription_cycle", amount_paid: 2900 });

    const prorating = await h.stripe.subscriptions
      .update(subscription.id, { items: [{ id: item.id, price: PLAN_BASIC.id }], proration_behavior: "create_prorations" })
      .catch((e: unknown) => e);
    expect(prorating).toMatchObject({ statusCode: 400, param: "proration_behavior" });
    const oneTime = await h.stripe.subscriptions
      .update(subscription.id, { items: [{ id: item.id, price: PRICE.id }] })
      .catch((e: unknown) => e);
    expect(oneTime).toMatchObject({ statusCode: 400, param: "items[0][price]" });
  });

  test("DELETE cancels now: customer.subscription.deleted; a canceled subscription cannot change or advance", async () => {
    const { subscription } = await subscribe();
    const events = await eventsDuring(() => h.stripe.subscriptions.cancel(subscription.id));
    expect(events.map((event) => event.type)).toEqual(["customer.subscription.deleted"]);
    expect(events[0].data.object).toMatchObject({ id: subscription.id, status: "canceled" });
    const canceled = await h.stripe.subscriptions.retrieve(subscription.id);
    expect(canceled.canceled_at).toBe(canceled.ended_at);
    expect(canceled.canceled_at).not.toBeNull();

    expect(await h.stripe.subscriptions.update(subscription.id, { cancel_at_period_end: true }).catch((e: unknown) => e)).toBeInstanceOf(
      Stripe.errors.StripeInvalidRequestError,
    );
    expect((await h.driver(`/subscriptions/${subscription.id}/advance`, {})).status).toBe(400);
    expect((await h.stripe.subscriptions.list({ customer: canceled.customer as string })).data).toEqual([]);
    expect((await h.stripe.subscriptions.list({ customer: canceled.customer as string, status: "all" })).data).toHaveLength(1);
  });
});

describe("renewals (test clock)", () => {
  test("advance renews: the new period on the item and on the line, the previous one on the invoice", async () => {
    const { subscription } = await subscribe();
    const first = subscription.items.data[0];
    const events = await eventsDuring(() => h.driver(`/subscriptions/${subscription.id}/advance`, {}));
    expect(events.map((event) => event.type)).toEqual([
      "customer.subscription.updated",
      "invoice.created",
      "invoice.finalized",
      "charge.succeeded",
      "payment_intent.succeeded",
      "invoice_payment.paid",
      "invoice.paid",
      "invoice.payment_succeeded",
    ]);
    const renewed = await h.stripe.subscriptions.retrieve(subscription.id);
    const item = renewed.items.data[0];
    expect(item.current_period_start).toBe(first.current_period_end);
    expect(item.current_period_end).toBeGreaterThan(item.current_period_start + 27 * DAY);
    expect(events[0].data.previous_attributes).toMatchObject({ items: { data: [{ current_period_start: first.current_period_start }] } });

    const invoices = await h.stripe.invoices.list({ subscription: subscription.id });
    expect(invoices.data.map((invoice) => invoice.billing_reason)).toEqual(["subscription_cycle", "subscription_create"]);
    const renewal = invoices.data[0];
    expect(renewed.latest_invoice).toBe(renewal.id);
    expect(renewal).toMatchObject({
      status: "paid",
      amount_paid: 900,
      period_start: first.current_period_start,
      period_end: first.current_period_end,
    });
    expect(renewal.lines.data[0].period).toEqual({ start: item.current_period_start, end: item.current_period_end });
    expect(renewal.number).not.toBe(invoices.data[1].number);
  });

  test("a failed renewal: the invoice stays open, invoice.payment_failed, the subscription goes past_due; a paid one makes it active", async () => {
    const { subscription } = await subscribe();
    const events = await eventsDuring(() => h.driver(`/subscriptions/${subscription.id}/advance`, { outcome: "payment_failed" }));
    expect(events.map((event) => event.type)).toEqual([
      "customer.subscription.updated",
      "invoice.created",
      "invoice.finalized",
      "charge.failed",
      "payment_intent.payment_failed",
      "invoice.payment_failed",
      "customer.subscription.updated",
    ]);
    expect(events[6].data.object).toMatchObject({ status: "past_due" });
    expect(events[6].data.previous_attributes).toEqual({ status: "active" });
    const [open] = (await h.stripe.invoices.list({ subscription: subscription.id, status: "open" })).data;
    expect(open).toMatchObject({ status: "open", amount_paid: 0, amount_remaining: 900, attempted: true, attempt_count: 1 });
    expect((await h.stripe.subscriptions.retrieve(subscription.id)).status).toBe("past_due");

    const recovered = await eventsDuring(() => h.driver(`/subscriptions/${subscription.id}/advance`, {}));
    expect(recovered.at(-1)).toMatchObject({ type: "customer.subscription.updated", data: { previous_attributes: { status: "past_due" } } });
    expect((await h.stripe.subscriptions.retrieve(subscription.id)).status).toBe("active");
  });
});

describe("refunds and disputes of an invoice's charge", () => {
  test("the invoice's PaymentIntent is found from the invoice, refunded and disputed through the usual paths", async () => {
    const { subscription } = await subscribe();
    await h.driver(`/subscriptions/${subscription.id}/advance`, {});
    const [renewal] = (await h.stripe.invoices.list({ subscription: subscription.id })).data;
    const payments = await h.stripe.invoicePayments.list({ invoice: renewal.id });
    const paymentIntentId = payments.data[0].payment.payment_intent as string;
    // And back: from a PaymentIntent (a refund's or a dispute's) to its invoice.
    const back = await h.stripe.invoicePayments.list({ payment: { type: "payment_intent", payment_intent: paymentIntentId } });
    expect(back.data.map((payment) => payment.invoice)).toEqual([renewal.id]);

    const refund = await h.stripe.refunds.create({ payment_intent: paymentIntentId, amount: 300 });
    expect(refund).toMatchObject({ amount: 300, payment_intent: paymentIntentId, status: "succeeded" });
    const paymentIntent = await h.stripe.paymentIntents.retrieve(paymentIntentId);
    const charge = await h.stripe.charges.retrieve(paymentIntent.latest_charge as string);
    expect(charge).toMatchObject({ amount: 900, amount_refunded: 300, refunded: false });

    const dispute = (await (await h.driver(`/charges/${charge.id}/disputes`, {})).json()) as Stripe.Dispute;
    expect(dispute).toMatchObject({ object: "dispute", amount: 900, charge: charge.id, payment_intent: paymentIntentId });
  });
});
