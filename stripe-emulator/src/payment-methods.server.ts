import type Stripe from "stripe";
import { idOf, type AccountCore, type RequestContext } from "./account-core.server";
import { invalidRequest, resourceMissing } from "./errors.server";
import { derivedId, newId } from "./ids.server";
import { buildPaymentMethod } from "./payment-method-objects.server";
import { DEFAULT_TEST_CARD, findTestCard, type TestCard } from "./test-cards.server";

/**
 * Saved cards: PaymentMethods made from Stripe's test cards, attached to a customer when a
 * payment or a SetupIntent saves them, listed, and detached for good. What Stripe knows but does
 * not show on the object (which test card it is, whether it was set up for future payments,
 * whether it was detached) is emulator state beside it.
 */

type CardState = { number: string; setUp: boolean; detached: boolean };

const stateKey = (id: string) => `payment_method_card:${id}`;

export function createPaymentMethods(core: AccountCore) {
  const { store, emit, retrieve, lookup, nowSeconds } = core;

  function cardState(id: string): CardState {
    return (store.getState(stateKey(id)) as CardState | undefined) ?? { number: DEFAULT_TEST_CARD.number, setUp: false, detached: false };
  }

  function testCardOf(id: string): TestCard {
    return findTestCard(cardState(id).number) ?? DEFAULT_TEST_CARD;
  }

  /** A new card PaymentMethod, not attached to anyone (stored; no event: Stripe sends none). */
  function recordCard(card: TestCard, billing: { email: string | null; name: string | null }): Stripe.PaymentMethod {
    const paymentMethod = buildPaymentMethod({
      id: newId.paymentMethod(),
      created: nowSeconds(),
      card,
      // Stripe's fingerprint names the card number: the same card saved twice has the same one.
      fingerprint: derivedId("", card.number),
      customer: null,
      billingEmail: billing.email,
      billingName: billing.name,
    });
    store.putObject(paymentMethod);
    store.putState(stateKey(paymentMethod.id), { number: card.number, setUp: false, detached: false } satisfies CardState);
    return paymentMethod;
  }

  /**
   * Saves a card to a customer for later (`setUp`: through a SetupIntent or `setup_future_usage`,
   * which is what lets a card that needs authentication "unless set up" pay off-session later).
   */
  function attach(paymentMethod: Stripe.PaymentMethod, customer: Stripe.Customer | null, context: RequestContext): Stripe.PaymentMethod {
    const state = cardState(paymentMethod.id);
    store.putState(stateKey(paymentMethod.id), { ...state, setUp: true } satisfies CardState);
    if (!customer) return paymentMethod;
    const attached: Stripe.PaymentMethod = { ...paymentMethod, customer: customer.id };
    store.putObject(attached, customer.id);
    emit("payment_method.attached", attached, context);
    return attached;
  }

  function detachPaymentMethod(id: string, context: RequestContext): Stripe.PaymentMethod {
    return store.transaction(() => {
      const paymentMethod = retrieve("payment_method", id);
      const customerId = idOf(paymentMethod.customer);
      if (!customerId) {
        throw invalidRequest("The payment method you provided is not attached to a customer so detachment is impossible.", {
          code: "payment_method_not_attached",
        });
      }
      const detached: Stripe.PaymentMethod = { ...paymentMethod, customer: null };
      store.putObject(detached);
      store.putState(stateKey(id), { ...cardState(id), detached: true } satisfies CardState);
      emit("payment_method.detached", detached, context, { customer: customerId });
      const customer = store.getObject("customer", customerId);
      if (customer && idOf(customer.invoice_settings.default_payment_method) === id) {
        const updated: Stripe.Customer = {
          ...customer,
          invoice_settings: { ...customer.invoice_settings, default_payment_method: null },
        };
        store.putObject(updated);
        emit("customer.updated", updated, context, { invoice_settings: { default_payment_method: id } });
      }
      return detached;
    });
  }

  function listPaymentMethods(customerId: string): Stripe.PaymentMethod[] {
    lookup("customer", customerId, "customer");
    return store.listChildren("payment_method", customerId);
  }

  /**
   * The PaymentMethod a PaymentIntent names: a stored one (usable only while not detached, and
   * only for the customer it is saved to), or one of Stripe's test ids (`pm_card_visa`), which,
   * as in Stripe's test mode, makes a new PaymentMethod from that card each time.
   */
  function paymentMethodForPayment(idOrToken: string, customer: Stripe.Customer | null, param: string): Stripe.PaymentMethod {
    const testCard = findTestCard(idOrToken);
    if (testCard && idOrToken === testCard.token) {
      return recordCard(testCard, { email: null, name: null });
    }
    const paymentMethod = lookup("payment_method", idOrToken, param);
    const owner = idOf(paymentMethod.customer);
    if (cardState(paymentMethod.id).detached) {
      throw invalidRequest(
        `The provided PaymentMethod (${paymentMethod.id}) was previously detached from a Customer; a detached PaymentMethod cannot be used again.`,
        { param },
      );
    }
    if (owner && !customer) {
      throw invalidRequest(
        `The provided PaymentMethod (${paymentMethod.id}) is attached to a Customer; pass that Customer's id in \`customer\` to use it.`,
        { param: "customer" },
      );
    }
    if (owner && customer && owner !== customer.id) {
      throw invalidRequest(`The provided PaymentMethod (${paymentMethod.id}) belongs to a different Customer.`, { param });
    }
    return paymentMethod;
  }

  function retrieveCustomerPaymentMethod(customerId: string, id: string): Stripe.PaymentMethod {
    retrieve("customer", customerId);
    const paymentMethod = store.getObject("payment_method", id);
    if (!paymentMethod || idOf(paymentMethod.customer) !== customerId) {
      throw resourceMissing("PaymentMethod", id, { param: "payment_method", status: 404 });
    }
    return paymentMethod;
  }

  return {
    cardState,
    testCardOf,
    recordCard,
    attach,
    detachPaymentMethod,
    listPaymentMethods,
    paymentMethodForPayment,
    retrieveCustomerPaymentMethod,
  };
}

export type PaymentMethods = ReturnType<typeof createPaymentMethods>;
