import type Stripe from "stripe";
import { CUSTOMER_ACTION, idOf, type AccountCore } from "./account-core.server";
import { invalidRequest } from "./errors.server";
import type { AsyncPayments } from "./async-payments.server";
import { sessionSettings } from "./checkout-sessions.server";
import { buildCustomerDetails, type PaymentMethodKind } from "./objects.server";
import type { PaymentOutcome } from "./params.server";
import { recordNewCustomer, recordPayment } from "./payments.server";
import type { createSubscriptions } from "./subscriptions.server";
import { newId } from "./ids.server";
import { buildSetupIntent } from "./payment-method-objects.server";
import type { PaymentMethods } from "./payment-methods.server";
import { DEFAULT_TEST_CARD, type CardDecline, type TestCard } from "./test-cards.server";

type Subscriptions = ReturnType<typeof createSubscriptions>;

/**
 * The customer finishing a Checkout Session on the hosted page (or the test driver doing it for
 * them), in one of the ways Stripe completes a session:
 *   paid                  a card payment that succeeds at once
 *   delayed_success/_failure  a bank debit: complete and unpaid now, settled after a delay
 *   no_payment_required   a 100% discount: complete with nothing to pay, no PaymentIntent at all
 * and in setup mode, the customer saving a card: a SetupIntent, no payment.
 *
 * The card the customer types decides what a card payment or a saved card does
 * (test-cards.server.ts). A card the bank declines leaves the session open (`decline`); the
 * authentication a card asks for on the page is taken as passed (the page has no 3-D Secure step).
 */

export type CompletionResult = { completed: boolean; session: Stripe.Checkout.Session; decline?: CardDecline };

/** The coupon a free session names in `discounts` (the emulator has no coupon objects). */
export const FREE_COUPON_ID = "emulator_100_percent_off";

export function createCheckoutCompletion(
  core: AccountCore,
  asyncPayments: AsyncPayments,
  sessions: { getCheckoutSession(id: string): Stripe.Checkout.Session },
  subscriptions: Pick<Subscriptions, "startSubscription">,
  paymentMethods: PaymentMethods,
) {
  const { store, emit, retrieve, log } = core;

  /** A session that is not open is left alone (`completed: false`): never a second payment. */
  function completeCheckoutSession(id: string, outcome: PaymentOutcome, card: TestCard = DEFAULT_TEST_CARD): CompletionResult {
    // Read first, outside the transaction: a session past its time expires (and says so) here.
    const current = sessions.getCheckoutSession(id);
    if (current.status !== "open") return { completed: false, session: current };
    if (current.mode !== "payment" && outcome !== "paid") {
      throw invalidRequest(
        `The Stripe emulator completes a ${current.mode}-mode Checkout Session only with a card (outcome "paid"), not "${outcome}".`,
        { param: "outcome" },
      );
    }
    if (current.mode === "subscription" && card !== DEFAULT_TEST_CARD) {
      throw invalidRequest(`The Stripe emulator's subscriptions pay with the card ${DEFAULT_TEST_CARD.number} only.`, {
        param: "card",
      });
    }
    if (outcome !== "paid" && card !== DEFAULT_TEST_CARD) {
      throw invalidRequest(`A card is chosen only for a card payment (outcome "paid"), not "${outcome}".`, { param: "card" });
    }
    // The bank's refusal: nothing is recorded and the customer can try another card.
    const decline = current.mode === "setup" ? card.declinesSetup : outcome === "paid" ? card.declinesCharges : null;
    if (decline) return { completed: false, session: current, decline };

    const result = store.transaction(() => {
      const session = retrieve("checkout.session", id);
      if (session.status !== "open") return { completed: false, session };
      let customer = session.customer ? (store.getObject("customer", idOf(session.customer) ?? "") ?? null) : null;
      if (!customer && (session.customer_creation === "always" || session.mode === "subscription")) {
        customer = recordNewCustomer(core, session.customer_email);
      }
      const email = customer?.email ?? session.customer_email;
      const closed: Stripe.Checkout.Session = {
        ...session,
        status: "complete",
        customer: customer?.id ?? null,
        customer_details: buildCustomerDetails(email, customer?.name ?? null),
        url: null,
      };
      const completed =
        session.mode === "subscription" && customer
          ? completeSubscription(closed, customer)
          : session.mode === "setup"
            ? completeSetup(closed, customer, email, card)
            : outcome === "no_payment_required"
              ? completeFree(closed)
              : completePaid(closed, outcome, customer, email, card);
      emit("checkout.session.completed", completed, CUSTOMER_ACTION);
      return { completed: true, session: completed };
    });

    if (result.completed && outcome.startsWith("delayed_")) {
      asyncPayments.scheduleAsyncPayment(id, core.asyncPaymentDelayMs);
    }
    log("stripe-emulator: checkout session completed", { sessionId: id, outcome, completed: result.completed });
    return result;
  }

  function completePaid(
    session: Stripe.Checkout.Session,
    outcome: Exclude<PaymentOutcome, "no_payment_required">,
    customer: Stripe.Customer | null,
    email: string | null,
    card: TestCard,
  ): Stripe.Checkout.Session {
    const settled = outcome === "paid";
    const kind: PaymentMethodKind = settled ? "card" : session.currency === "eur" ? "sepa_debit" : "us_bank_account";
    const settings = sessionSettings(core, session.id);
    const paymentMethod = settled ? paymentMethods.recordCard(card, { email, name: customer?.name ?? null }) : null;
    // Only a card is saved: the emulator's bank debits are not reusable payment methods.
    const setupFutureUsage = settled ? (settings.setupFutureUsage ?? null) : null;
    const { charge, paymentIntent } = recordPayment(core, {
      amount: session.amount_total ?? 0,
      currency: session.currency ?? "usd",
      customer,
      email,
      description: settings.paymentIntentDescription,
      metadata: settings.paymentIntentMetadata,
      kind,
      settled,
      paymentMethod: paymentMethod?.id,
      card: paymentMethod?.card,
      setupFutureUsage,
    });
    const completed: Stripe.Checkout.Session = {
      ...session,
      payment_status: settled ? "paid" : "unpaid",
      payment_intent: paymentIntent.id,
    };
    store.putObject(completed);
    if (settled) {
      emit("charge.succeeded", charge, CUSTOMER_ACTION);
      emit("payment_intent.succeeded", paymentIntent, CUSTOMER_ACTION);
      // Saved once the payment went through; without a customer there is no one to save it to.
      if (paymentMethod && setupFutureUsage) paymentMethods.attach(paymentMethod, customer, CUSTOMER_ACTION);
    } else {
      emit("charge.pending", charge, CUSTOMER_ACTION);
      emit("payment_intent.processing", paymentIntent, CUSTOMER_ACTION);
      asyncPayments.recordPendingAnswer(session.id, outcome === "delayed_success");
    }
    return completed;
  }

  /**
   * Subscription mode: `customer.subscription.created`, then the first invoice's events (created,
   * finalized, charge and PaymentIntent succeeded, invoice_payment.paid, paid, payment_succeeded);
   * the caller then sends `checkout.session.completed`. The session names the subscription and the
   * invoice; its `payment_intent` stays null (the invoice's payment has it).
   */
  function completeSubscription(session: Stripe.Checkout.Session, customer: Stripe.Customer): Stripe.Checkout.Session {
    const [item] = store.listChildren("item", session.id);
    const price = item?.price;
    if (!price) throw new Error(`subscription session ${session.id} has no price`);
    const settings = sessionSettings(core, session.id);
    const { subscription, invoice } = subscriptions.startSubscription({
      customer,
      price: retrieve("price", price.id),
      quantity: item.quantity ?? 1,
      metadata: settings.subscriptionMetadata ?? {},
      description: settings.subscriptionDescription ?? null,
    });
    const completed: Stripe.Checkout.Session = {
      ...session,
      payment_status: "paid",
      payment_intent: null,
      subscription: subscription.id,
      invoice: invoice.id,
    };
    store.putObject(completed);
    return completed;
  }

  /**
   * Setup mode: the card becomes a PaymentMethod, a SetupIntent (`usage: off_session`) records
   * that it was set up, and it is attached to the session's customer (none: saved to no one).
   * Events: setup_intent.created, setup_intent.succeeded, payment_method.attached; the caller
   * then sends checkout.session.completed.
   */
  function completeSetup(
    session: Stripe.Checkout.Session,
    customer: Stripe.Customer | null,
    email: string | null,
    card: TestCard,
  ): Stripe.Checkout.Session {
    const settings = sessionSettings(core, session.id);
    const paymentMethod = paymentMethods.recordCard(card, { email, name: customer?.name ?? null });
    const id = newId.setupIntent();
    const setupIntent = buildSetupIntent({
      id,
      created: core.nowSeconds(),
      customer: customer?.id ?? null,
      description: settings.setupIntentDescription ?? null,
      metadata: settings.setupIntentMetadata ?? {},
      paymentMethod: paymentMethod.id,
      usage: "off_session",
      clientSecret: `${id}_secret_${newId.secret()}`,
    });
    store.putObject(setupIntent, customer?.id ?? null);
    emit("setup_intent.created", { ...setupIntent, status: "requires_confirmation" }, CUSTOMER_ACTION);
    emit("setup_intent.succeeded", setupIntent, CUSTOMER_ACTION);
    paymentMethods.attach(paymentMethod, customer, CUSTOMER_ACTION);
    const completed: Stripe.Checkout.Session = {
      ...session,
      payment_status: "no_payment_required",
      setup_intent: setupIntent.id,
    };
    store.putObject(completed);
    return completed;
  }

  /** As Stripe completes a session whose discount covers everything: no payment is made. */
  function completeFree(session: Stripe.Checkout.Session): Stripe.Checkout.Session {
    const subtotal = session.amount_subtotal ?? session.amount_total ?? 0;
    for (const item of store.listChildren("item", session.id)) {
      store.putObject({ ...item, amount_discount: item.amount_subtotal, amount_total: 0 }, session.id);
    }
    const completed: Stripe.Checkout.Session = {
      ...session,
      payment_status: "no_payment_required",
      payment_intent: null,
      amount_subtotal: subtotal,
      amount_total: 0,
      discounts: [{ coupon: FREE_COUPON_ID, promotion_code: null }],
      total_details: { amount_discount: subtotal, amount_shipping: 0, amount_tax: 0 },
    };
    store.putObject(completed);
    return completed;
  }

  return { completeCheckoutSession };
}
