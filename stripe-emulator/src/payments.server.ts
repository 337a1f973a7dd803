import type Stripe from "stripe";
import { CUSTOMER_ACTION, type AccountCore } from "./account-core.server";
import { newId } from "./ids.server";
import { buildCharge, buildCustomer, buildPaymentIntent, type PaymentMethodKind } from "./objects.server";
import type { UnrelatedPaymentInput } from "./params.server";

/**
 * A PaymentIntent and its Charge, as a customer's payment creates them: for a Checkout Session,
 * or (test driver) for something else sold on the same Stripe account, which the app never sold
 * and must leave alone.
 */

export type PaymentInput = {
  amount: number;
  currency: string;
  customer: Stripe.Customer | null;
  email: string | null;
  description: string | null;
  metadata: Stripe.Metadata;
  kind: PaymentMethodKind;
  /** A card settles at once; a bank debit is processing until the bank answers. */
  settled: boolean;
  /** The saved card a renewal charges again (default: a new payment method). */
  paymentMethod?: string;
  /** That payment method's card, for the charge's `payment_method_details`. */
  card?: Stripe.PaymentMethod.Card;
  setupFutureUsage?: Stripe.PaymentIntent.SetupFutureUsage | null;
};

/** Stores a new PaymentIntent and Charge (no events: each caller emits its own sequence). */
export function recordPayment(
  core: AccountCore,
  input: PaymentInput,
): { charge: Stripe.Charge; paymentIntent: Stripe.PaymentIntent } {
  const created = core.nowSeconds();
  const paymentIntentId = newId.paymentIntent();
  const chargeId = newId.charge();
  const paymentMethod = input.paymentMethod ?? newId.paymentMethod();
  const charge = buildCharge({
    id: chargeId,
    created,
    amount: input.amount,
    currency: input.currency,
    customer: input.customer?.id ?? null,
    description: input.description,
    metadata: input.metadata,
    billingEmail: input.email,
    billingName: input.customer?.name ?? null,
    paymentIntent: paymentIntentId,
    paymentMethod,
    paymentMethodKind: input.kind,
    fingerprint: newId.fingerprint(),
    receiptUrl: `${core.publicUrl}/receipts/${chargeId}`,
    status: input.settled ? "succeeded" : "pending",
    card: input.card,
  });
  const paymentIntent = buildPaymentIntent({
    id: paymentIntentId,
    created,
    amount: input.amount,
    currency: input.currency,
    customer: input.customer?.id ?? null,
    description: input.description,
    metadata: input.metadata,
    paymentMethod,
    paymentMethodKind: input.kind,
    latestCharge: chargeId,
    status: input.settled ? "succeeded" : "processing",
    clientSecret: `${paymentIntentId}_secret_${newId.secret()}`,
    setupFutureUsage: input.setupFutureUsage,
  });
  core.store.putObject(paymentIntent);
  core.store.putObject(charge, paymentIntentId);
  return { charge, paymentIntent };
}

/** A customer Stripe creates on its own (Checkout with customer_creation, another product's sale). */
export function recordNewCustomer(core: AccountCore, email: string | null): Stripe.Customer {
  const customer = buildCustomer({
    id: newId.customer(),
    created: core.nowSeconds(),
    email,
    name: null,
    description: null,
    phone: null,
    metadata: {},
    invoicePrefix: newId.invoicePrefix(),
  });
  core.store.putObject(customer);
  core.emit("customer.created", customer, CUSTOMER_ACTION);
  return customer;
}

export function createUnrelatedPayments(core: AccountCore) {
  /**
   * A card payment that succeeded outside any Checkout Session the app created, with no metadata
   * at all: what another product sold on the same Stripe account looks like to the app's webhook.
   */
  function createUnrelatedPayment(input: UnrelatedPaymentInput): {
    customer: Stripe.Customer;
    payment_intent: Stripe.PaymentIntent;
    charge: Stripe.Charge;
  } {
    return core.store.transaction(() => {
      const customer = input.customer
        ? core.lookup("customer", input.customer, "customer")
        : recordNewCustomer(core, input.email ?? null);
      const { charge, paymentIntent } = recordPayment(core, {
        amount: input.amount,
        currency: input.currency,
        customer,
        email: customer.email,
        description: input.description ?? null,
        metadata: {},
        kind: "card",
        settled: true,
      });
      core.emit("charge.succeeded", charge, CUSTOMER_ACTION);
      core.emit("payment_intent.succeeded", paymentIntent, CUSTOMER_ACTION);
      return { customer, payment_intent: paymentIntent, charge };
    });
  }

  return { createUnrelatedPayment };
}
