import Stripe from "stripe";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { CANCEL_URL, SUCCESS_URL, startHarness, type Harness } from "../../tests/support/emulator-harness";

// Saving a card for later: a setup-mode Checkout Session, or a purchase made with
// `payment_intent_data[setup_future_usage]`; then listing, choosing as default and removing it.

let h: Harness;

beforeEach(async () => {
  h = await startHarness();
});

afterEach(async () => {
  await h.close();
});

const ALWAYS_AUTHENTICATE = "4000002760003184";

function createSetupSession(params: Partial<Stripe.Checkout.SessionCreateParams> = {}) {
  return h.stripe.checkout.sessions.create({
    mode: "setup",
    currency: "usd",
    success_url: SUCCESS_URL,
    cancel_url: CANCEL_URL,
    ...params,
  });
}

/** The events of these types, in the order the emulator emitted them. */
async function eventTypes(types: string[]): Promise<string[]> {
  return (await h.eventLog()).map((event) => event.type).filter((type) => types.includes(type));
}

const SAVING_EVENTS = [
  "setup_intent.created",
  "setup_intent.succeeded",
  "payment_method.attached",
  "payment_method.detached",
  "charge.succeeded",
  "payment_intent.succeeded",
  "checkout.session.completed",
  "customer.updated",
];

describe("setup-mode Checkout", () => {
  test("saves the card from the hosted page: a SetupIntent, an attached card PaymentMethod, events in order", async () => {
    const customer = await h.stripe.customers.create({ email: "ada@example.com", metadata: { userId: "7" } });
    const created = await createSetupSession({
      customer: customer.id,
      metadata: { userId: "7", purpose: "auto_recharge" },
      setup_intent_data: { metadata: { userId: "7" }, description: "Card for auto-recharge" },
    });
    expect(created).toMatchObject({
      object: "checkout.session",
      mode: "setup",
      status: "open",
      payment_status: "no_payment_required",
      currency: "usd",
      amount_total: null,
      amount_subtotal: null,
      total_details: null,
      customer: customer.id,
      customer_creation: null,
      setup_intent: null,
      payment_intent: null,
      metadata: { userId: "7", purpose: "auto_recharge" },
      url: `${h.emulator.publicUrl}/checkout/${created.id}`,
    });

    const page = await (await fetch(created.url ?? "")).text();
    expect(page).toContain("Save card");
    expect(page).toContain('<label for="card">Test card</label>');
    expect(page).toContain(`<option value="${ALWAYS_AUTHENTICATE}">`);
    expect(page).not.toContain('value="pay"');

    const saved = await h.pressButton(created, "save", { card: ALWAYS_AUTHENTICATE });
    expect(saved.status).toBe(303);
    expect(saved.headers.get("location")).toBe(`https://app.example/billing/success?session_id=${created.id}`);
    await h.emulator.waitForDeliveries();

    const session = await h.stripe.checkout.sessions.retrieve(created.id, { expand: ["setup_intent"] });
    expect(session).toMatchObject({ status: "complete", mode: "setup", payment_status: "no_payment_required", url: null });
    const setupIntent = session.setup_intent as Stripe.SetupIntent;
    expect(setupIntent.id).toMatch(/^seti_\w{24}$/);
    expect(setupIntent).toMatchObject({
      object: "setup_intent",
      status: "succeeded",
      usage: "off_session",
      customer: customer.id,
      metadata: { userId: "7" },
      description: "Card for auto-recharge",
      last_setup_error: null,
      next_action: null,
      payment_method_types: ["card"],
    });
    expect(await h.stripe.setupIntents.retrieve(setupIntent.id)).toEqual(setupIntent);

    const paymentMethod = await h.stripe.paymentMethods.retrieve(setupIntent.payment_method as string);
    expect(paymentMethod.id).toMatch(/^pm_\w{24}$/);
    expect(paymentMethod).toMatchObject({
      object: "payment_method",
      type: "card",
      customer: customer.id,
      livemode: false,
      card: { brand: "visa", last4: "3184", exp_month: 12, exp_year: 2034, funding: "credit", wallet: null },
      billing_details: { email: "ada@example.com" },
    });

    expect(await eventTypes(SAVING_EVENTS)).toEqual([
      "setup_intent.created",
      "setup_intent.succeeded",
      "payment_method.attached",
      "checkout.session.completed",
    ]);
    const [attached] = h.receiver.eventsOfType("payment_method.attached");
    expect(attached.data.object).toEqual(paymentMethod);
    expect(attached.request).toEqual({ id: null, idempotency_key: null });
    const [completed] = h.receiver.eventsOfType("checkout.session.completed");
    expect(completed.data.object).toMatchObject({ id: created.id, mode: "setup", setup_intent: setupIntent.id });
    expect(h.receiver.eventsOfType("setup_intent.succeeded")[0].data.object).toMatchObject({ id: setupIntent.id, status: "succeeded" });
    expect(h.receiver.rejected).toEqual([]);
  });

  test("lists the customer's saved cards, both ways, and reads one through the customer", async () => {
    const customer = await h.stripe.customers.create({});
    const first = await createSetupSession({ customer: customer.id });
    expect((await h.driver(`/checkout/sessions/${first.id}/pay`, {})).status).toBe(200);
    const second = await createSetupSession({ customer: customer.id });
    expect((await h.driver(`/checkout/sessions/${second.id}/pay`, { card: "pm_card_authenticationRequired" })).status).toBe(200);

    const listed = await h.stripe.paymentMethods.list({ customer: customer.id, type: "card" });
    expect(listed).toMatchObject({ object: "list", has_more: false, url: "/v1/payment_methods" });
    // Newest first.
    expect(listed.data.map((pm) => pm.card?.last4)).toEqual(["3184", "4242"]);
    const viaCustomer = await h.stripe.customers.listPaymentMethods(customer.id, { type: "card" });
    expect(viaCustomer.data).toEqual(listed.data);
    expect(viaCustomer.url).toBe(`/v1/customers/${customer.id}/payment_methods`);
    expect((await h.stripe.customers.listPaymentMethods(customer.id, { type: "sepa_debit" })).data).toEqual([]);
    expect((await h.stripe.paymentMethods.list({ customer: customer.id, limit: 1 })).has_more).toBe(true);

    const one = await h.stripe.customers.retrievePaymentMethod(customer.id, listed.data[0].id);
    expect(one).toEqual(listed.data[0]);
    const stranger = await h.stripe.customers.create({});
    const notTheirs = await h.stripe.customers.retrievePaymentMethod(stranger.id, listed.data[0].id).catch((e: unknown) => e);
    expect(notTheirs).toMatchObject({ statusCode: 404, code: "resource_missing" });
  });

  test("a card the bank will not save (9995) leaves the session open, on the page and through the driver", async () => {
    const customer = await h.stripe.customers.create({});
    const session = await createSetupSession({ customer: customer.id });

    const page = await h.pressButton(session, "save", { card: "4000000000009995" });
    expect(page.status).toBe(402);
    const html = await page.text();
    expect(html).toContain('role="alert">Your card has insufficient funds.');
    expect(html).toContain('<option value="4000000000009995" selected>');

    const driven = await h.driver(`/checkout/sessions/${session.id}/pay`, { card: "pm_card_chargeDeclinedInsufficientFunds" });
    expect(driven.status).toBe(402);
    expect(await driven.json()).toMatchObject({
      error: { type: "card_error", code: "card_declined", decline_code: "insufficient_funds" },
    });

    expect((await h.stripe.checkout.sessions.retrieve(session.id)).status).toBe("open");
    expect((await h.stripe.paymentMethods.list({ customer: customer.id })).data).toEqual([]);
    await h.emulator.waitForDeliveries();
    expect(await eventTypes(SAVING_EVENTS)).toEqual([]);

    const saved = await h.pressButton(session, "save", { card: "4242424242424242" });
    expect(saved.status).toBe(303);
  });

  test("without a customer the card is set up but saved to no one", async () => {
    const session = await createSetupSession();
    const response = await h.driver(`/checkout/sessions/${session.id}/pay`, {});
    const completed = (await response.json()) as Stripe.Checkout.Session;
    expect(completed).toMatchObject({ status: "complete", customer: null });
    const setupIntent = await h.stripe.setupIntents.retrieve(completed.setup_intent as string, { expand: ["payment_method"] });
    expect(setupIntent.customer).toBeNull();
    expect((setupIntent.payment_method as Stripe.PaymentMethod).customer).toBeNull();
    await h.emulator.waitForDeliveries();
    expect(await eventTypes(SAVING_EVENTS)).toEqual(["setup_intent.created", "setup_intent.succeeded", "checkout.session.completed"]);
  });

  test("refuses what setup mode does not take, and an unknown parameter", async () => {
    const noCurrency = await createSetupSession({ currency: undefined }).catch((e: unknown) => e);
    expect(noCurrency).toMatchObject({ statusCode: 400, param: "currency", code: "parameter_missing" });

    const withItems = await createSetupSession({ line_items: [{ price: "price_test_credits_100", quantity: 1 }] }).catch(
      (e: unknown) => e,
    );
    expect(withItems).toMatchObject({ param: "line_items" });
    const paymentData = await createSetupSession({ payment_intent_data: { metadata: { a: "b" } } }).catch((e: unknown) => e);
    expect(paymentData).toMatchObject({ param: "payment_intent_data" });
    const setupDataInPayment = await h.createSession({ setup_intent_data: { metadata: { a: "b" } } }).catch((e: unknown) => e);
    expect(setupDataInPayment).toMatchObject({ param: "setup_intent_data" });
    const unknown = await createSetupSession({
      setup_intent_data: { on_behalf_of: "acct_1" } as Stripe.Checkout.SessionCreateParams.SetupIntentData,
    }).catch((e: unknown) => e);
    expect(unknown).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect(unknown).toMatchObject({ param: "setup_intent_data[on_behalf_of]", code: "parameter_unknown" });
    expect(String((unknown as Error).message)).toContain("Received unknown parameter: setup_intent_data[on_behalf_of]");

    const session = await createSetupSession();
    expect((await h.driver(`/checkout/sessions/${session.id}/pay`, { outcome: "delayed_success" })).status).toBe(400);
    expect((await h.driver(`/checkout/sessions/${session.id}/pay`, { card: "4111111111111111" })).status).toBe(400);
    expect((await h.pressButton(session, "pay")).status).toBe(400);
  });
});

describe("a purchase that saves the card (payment_intent_data[setup_future_usage])", () => {
  test("off_session: the PaymentIntent names the card and says so, the card is attached after the payment", async () => {
    const customer = await h.stripe.customers.create({ email: "ada@example.com" });
    const created = await h.createSession({
      customer: customer.id,
      payment_intent_data: { setup_future_usage: "off_session", metadata: { userId: "7" } },
    });
    const page = await (await fetch(created.url ?? "")).text();
    expect(page).toContain("Your card will be saved for future payments, including ones taken while you are away.");

    expect((await h.pressButton(created, "pay", { card: "4000002500003155" })).status).toBe(303);
    await h.emulator.waitForDeliveries();
    const session = await h.stripe.checkout.sessions.retrieve(created.id, { expand: ["payment_intent.payment_method"] });
    const paymentIntent = session.payment_intent as Stripe.PaymentIntent;
    const paymentMethod = paymentIntent.payment_method as Stripe.PaymentMethod;
    expect(paymentIntent).toMatchObject({ status: "succeeded", setup_future_usage: "off_session", metadata: { userId: "7" } });
    expect(paymentMethod).toMatchObject({ type: "card", customer: customer.id, card: { brand: "visa", last4: "3155" } });
    const charge = await h.stripe.charges.retrieve(paymentIntent.latest_charge as string);
    expect(charge.payment_method).toBe(paymentMethod.id);
    expect(charge.payment_method_details?.card).toMatchObject({ brand: "visa", last4: "3155", exp_year: 2034 });

    expect(await eventTypes(SAVING_EVENTS)).toEqual([
      "charge.succeeded",
      "payment_intent.succeeded",
      "payment_method.attached",
      "checkout.session.completed",
    ]);
    expect((await h.stripe.customers.listPaymentMethods(customer.id)).data.map((pm) => pm.id)).toEqual([paymentMethod.id]);
  });

  test("on_session saves too; without setup_future_usage, or without a customer, nothing is saved", async () => {
    const customer = await h.stripe.customers.create({});
    const onSession = await h.createSession({ customer: customer.id, payment_intent_data: { setup_future_usage: "on_session" } });
    expect((await h.driver(`/checkout/sessions/${onSession.id}/pay`, {})).status).toBe(200);
    const plain = await h.createSession({ customer: customer.id });
    expect((await h.driver(`/checkout/sessions/${plain.id}/pay`, {})).status).toBe(200);
    const anonymous = await h.createSession({ payment_intent_data: { setup_future_usage: "off_session" } });
    expect((await h.driver(`/checkout/sessions/${anonymous.id}/pay`, {})).status).toBe(200);
    await h.emulator.waitForDeliveries();

    const saved = (await h.stripe.paymentMethods.list({ customer: customer.id })).data;
    expect(saved).toHaveLength(1);
    const onSessionIntent = await h.stripe.paymentIntents.retrieve(
      (await h.stripe.checkout.sessions.retrieve(onSession.id)).payment_intent as string,
    );
    expect(onSessionIntent).toMatchObject({ setup_future_usage: "on_session", payment_method: saved[0].id });
    const plainIntent = await h.stripe.paymentIntents.retrieve(
      (await h.stripe.checkout.sessions.retrieve(plain.id)).payment_intent as string,
    );
    expect(plainIntent.setup_future_usage).toBeNull();
    // The card it paid with exists, but belongs to no one.
    expect((await h.stripe.paymentMethods.retrieve(plainIntent.payment_method as string)).customer).toBeNull();
    expect(h.receiver.eventsOfType("payment_method.attached")).toHaveLength(1);

    // A customer Checkout creates (customer_creation=always) gets the card.
    const created = await h.createSession({ customer_creation: "always", payment_intent_data: { setup_future_usage: "off_session" } });
    const completed = (await (await h.driver(`/checkout/sessions/${created.id}/pay`, {})).json()) as Stripe.Checkout.Session;
    const newCustomer = completed.customer as string;
    expect(newCustomer).toMatch(/^cus_/);
    expect((await h.stripe.customers.listPaymentMethods(newCustomer)).data).toHaveLength(1);
  });

  test("a declined card (9995) is refused on the page; the session stays open and nothing is charged", async () => {
    const customer = await h.stripe.customers.create({});
    const session = await h.createSession({ customer: customer.id, payment_intent_data: { setup_future_usage: "off_session" } });
    const declined = await h.pressButton(session, "pay", { card: "4000000000009995" });
    expect(declined.status).toBe(402);
    expect(await declined.text()).toContain("Your card has insufficient funds.");
    expect(await h.stripe.checkout.sessions.retrieve(session.id)).toMatchObject({ status: "open", payment_intent: null });
    // A bank debit takes no card: the select's value does not matter for it.
    expect((await h.pressButton(session, "delayed_success", { card: "4000000000009995" })).status).toBe(303);
  });
});

describe("the customer's default card and removing a card", () => {
  async function saveCard(customer: string, card = "4242424242424242"): Promise<string> {
    const session = await createSetupSession({ customer });
    const response = await h.driver(`/checkout/sessions/${session.id}/pay`, { card });
    const completed = (await response.json()) as Stripe.Checkout.Session;
    const setupIntent = await h.stripe.setupIntents.retrieve(completed.setup_intent as string);
    return setupIntent.payment_method as string;
  }

  test("invoice_settings.default_payment_method takes one of the customer's cards; detaching it clears it", async () => {
    const customer = await h.stripe.customers.create({});
    const card = await saveCard(customer.id);

    const updated = await h.stripe.customers.update(customer.id, { invoice_settings: { default_payment_method: card } });
    expect(updated.invoice_settings.default_payment_method).toBe(card);
    expect((await h.stripe.customers.retrieve(customer.id)) as Stripe.Customer).toMatchObject({
      invoice_settings: { default_payment_method: card },
    });

    const detached = await h.stripe.paymentMethods.detach(card);
    expect(detached).toMatchObject({ id: card, customer: null, type: "card" });
    expect((await h.stripe.paymentMethods.list({ customer: customer.id })).data).toEqual([]);
    expect((await h.stripe.paymentMethods.retrieve(card)).customer).toBeNull();
    const after = (await h.stripe.customers.retrieve(customer.id)) as Stripe.Customer;
    expect(after.invoice_settings.default_payment_method).toBeNull();

    await h.emulator.waitForDeliveries();
    expect(await eventTypes(SAVING_EVENTS)).toEqual([
      "setup_intent.created",
      "setup_intent.succeeded",
      "payment_method.attached",
      "checkout.session.completed",
      "customer.updated",
      "payment_method.detached",
      "customer.updated",
    ]);
    const [setDefault, cleared] = h.receiver.eventsOfType("customer.updated");
    expect(setDefault.data.previous_attributes).toEqual({ invoice_settings: { default_payment_method: null } });
    expect(cleared.data.previous_attributes).toEqual({ invoice_settings: { default_payment_method: card } });
    const [detachedEvent] = h.receiver.eventsOfType("payment_method.detached");
    expect(detachedEvent.data.object).toMatchObject({ id: card, customer: null });
    expect(detachedEvent.data.previous_attributes).toEqual({ customer: customer.id });
    expect(detachedEvent.request?.id).toMatch(/^req_/);

    const again = await h.stripe.paymentMethods.detach(card).catch((e: unknown) => e);
    expect(again).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect(again).toMatchObject({ statusCode: 400, code: "payment_method_not_attached" });
  });

  test("refuses a default card that is not the customer's, and unsets it with an empty string", async () => {
    const customer = await h.stripe.customers.create({});
    const other = await h.stripe.customers.create({});
    const theirs = await saveCard(other.id);
    const refused = await h.stripe.customers
      .update(customer.id, { invoice_settings: { default_payment_method: theirs } })
      .catch((e: unknown) => e);
    expect(refused).toMatchObject({ statusCode: 400, param: "invoice_settings[default_payment_method]" });

    const mine = await saveCard(customer.id);
    await h.stripe.customers.update(customer.id, { invoice_settings: { default_payment_method: mine } });
    const unset = await h.stripe.customers.update(customer.id, { invoice_settings: { default_payment_method: "" } });
    expect(unset.invoice_settings.default_payment_method).toBeNull();

    const unknown = await h.stripe.customers
      .update(customer.id, { invoice_settings: { footer: "x" } })
      .catch((e: unknown) => e);
    expect(unknown).toMatchObject({ param: "invoice_settings[footer]", code: "parameter_unknown" });
    const listWithoutCustomer = await h.stripe.paymentMethods.list({ type: "card" }).catch((e: unknown) => e);
    expect(listWithoutCustomer).toMatchObject({ statusCode: 400, param: "customer" });
    const missing = await h.stripe.paymentMethods.retrieve("pm_nope").catch((e: unknown) => e);
    expect(missing).toMatchObject({ statusCode: 404, code: "resource_missing", message: "No such PaymentMethod: 'pm_nope'" });
  });
});
