import type Stripe from "stripe";
import {
  createAccountCore,
  idOf,
  mergeMetadata,
  type AccountCore,
  type AccountDeps,
  type RequestContext,
} from "./account-core.server";
import { createAsyncPayments } from "./async-payments.server";
import { createCheckoutCompletion } from "./checkout-completion.server";
import { createCheckoutSessions, sessionSettings } from "./checkout-sessions.server";
import { createDisputes } from "./disputes.server";
import { invalidRequest } from "./errors.server";
import { derivedId, newId } from "./ids.server";
import { buildCustomer, buildPrice, buildProduct } from "./objects.server";
import type { CustomerCreateParams, CustomerUpdateParams } from "./params.server";
import { createUnrelatedPayments } from "./payments.server";
import { createInvoices } from "./invoices.server";
import { createPortalSessions } from "./portal-sessions.server";
import { createRefunds } from "./refunds.server";
import { createOffSessionPayments } from "./off-session-payments.server";
import { createPaymentMethods } from "./payment-methods.server";
import { createSubscriptions } from "./subscriptions.server";

/**
 * The emulated Stripe account: its objects and every state change, each one a single SQLite
 * transaction that also records the events it causes. HTTP lives elsewhere; this module knows
 * nothing of requests and responses. Each resource has its own module; this one puts them
 * together and keeps the catalogue and the customers.
 */

export { CUSTOMER_ACTION, type RequestContext } from "./account-core.server";

export type CatalogPrice = {
  id: string;
  unitAmount: number;
  currency: string;
  productName: string;
  recurring?: { interval: "day" | "week" | "month" | "year"; interval_count: number };
};

export type EmulatedAccount = ReturnType<typeof createEmulatedAccount>;

export function createEmulatedAccount(deps: AccountDeps) {
  const core = createAccountCore(deps);
  const sessions = createCheckoutSessions(core);
  const asyncPayments = createAsyncPayments(core);
  const invoices = createInvoices(core);
  const subscriptions = createSubscriptions(core, invoices);
  const paymentMethods = createPaymentMethods(core);
  const completion = createCheckoutCompletion(core, asyncPayments, sessions, subscriptions, paymentMethods);
  const offSession = createOffSessionPayments(core, paymentMethods);
  const customers = createCustomers(core);
  return {
    syncCatalog: (prices: CatalogPrice[]) => syncCatalog(core, prices),
    retrieve: core.retrieve,
    findObject: core.store.findObject,
    ...customers,
    ...sessions,
    completeCheckoutSession: completion.completeCheckoutSession,
    /** What the hosted page tells the customer about saving the card. */
    setupFutureUsageOf: (sessionId: string) => sessionSettings(core, sessionId).setupFutureUsage ?? null,
    settleAllAsyncPayments: asyncPayments.settleAllAsyncPayments,
    resumeAsyncPayments: asyncPayments.resumeAsyncPayments,
    ...createUnrelatedPayments(core),
    detachPaymentMethod: paymentMethods.detachPaymentMethod,
    listPaymentMethods: paymentMethods.listPaymentMethods,
    retrieveCustomerPaymentMethod: paymentMethods.retrieveCustomerPaymentMethod,
    createPaymentIntent: offSession.createPaymentIntent,
    listPaymentIntents: offSession.listPaymentIntents,
    ...createRefunds(core),
    ...createDisputes(core),
    listInvoices: invoices.listInvoices,
    listInvoicePayments: invoices.listInvoicePayments,
    listSubscriptions: subscriptions.listSubscriptions,
    updateSubscription: subscriptions.updateSubscription,
    cancelSubscription: subscriptions.cancelSubscription,
    advanceSubscription: subscriptions.advanceSubscription,
    ...createPortalSessions(core, subscriptions),
  };
}

/** Writes the configured prices (and a product for each) so that they can be retrieved. */
function syncCatalog(core: AccountCore, prices: CatalogPrice[]): void {
  const { store, nowSeconds } = core;
  store.transaction(() => {
    for (const price of prices) {
      const productId = derivedId("prod_", price.id);
      const created = store.getObject("price", price.id)?.created ?? nowSeconds();
      store.putObject(buildProduct({ id: productId, created, name: price.productName, defaultPrice: price.id }));
      store.putObject(
        buildPrice({
          id: price.id,
          created,
          unitAmount: price.unitAmount,
          currency: price.currency,
          product: productId,
          recurring: price.recurring ?? null,
        }),
      );
    }
  });
}

function createCustomers(core: AccountCore) {
  const { store, emit, retrieve, nowSeconds } = core;

  function createCustomer(params: CustomerCreateParams, context: RequestContext): Stripe.Customer {
    return store.transaction(() => {
      const customer = buildCustomer({
        id: newId.customer(),
        created: nowSeconds(),
        email: params.email ?? null,
        name: params.name ?? null,
        description: params.description ?? null,
        phone: params.phone ?? null,
        metadata: params.metadata ?? {},
        invoicePrefix: newId.invoicePrefix(),
      });
      store.putObject(customer);
      emit("customer.created", customer, context);
      return customer;
    });
  }

  function updateCustomer(id: string, params: CustomerUpdateParams, context: RequestContext): Stripe.Customer {
    return store.transaction(() => {
      const before = retrieve("customer", id);
      const after: Stripe.Customer = {
        ...before,
        email: params.email === undefined ? before.email : params.email || null,
        name: params.name === undefined ? before.name : params.name || null,
        description: params.description === undefined ? before.description : params.description || null,
        phone: params.phone === undefined ? before.phone : params.phone || null,
        metadata: mergeMetadata(before.metadata, params.metadata),
        invoice_settings: {
          ...before.invoice_settings,
          default_payment_method: defaultPaymentMethod(before, params.invoice_settings?.default_payment_method),
        },
      };
      store.putObject(after);
      const previous: Record<string, unknown> = {};
      for (const key of ["email", "name", "description", "phone", "metadata"] as const) {
        if (JSON.stringify(before[key]) !== JSON.stringify(after[key])) previous[key] = before[key];
      }
      if (idOf(before.invoice_settings.default_payment_method) !== idOf(after.invoice_settings.default_payment_method)) {
        previous.invoice_settings = { default_payment_method: before.invoice_settings.default_payment_method };
      }
      if (Object.keys(previous).length > 0) emit("customer.updated", after, context, previous);
      return after;
    });
  }

  /** `invoice_settings[default_payment_method]`: one of the customer's own saved cards, or "" for none. */
  function defaultPaymentMethod(customer: Stripe.Customer, update: string | undefined): string | Stripe.PaymentMethod | null {
    if (update === undefined) return customer.invoice_settings.default_payment_method;
    if (update === "") return null;
    const paymentMethod = store.getObject("payment_method", update);
    if (!paymentMethod || idOf(paymentMethod.customer) !== customer.id) {
      throw invalidRequest(
        `The customer does not have a payment method with the ID ${update}. The payment method must be attached to the customer.`,
        { param: "invoice_settings[default_payment_method]" },
      );
    }
    return paymentMethod.id;
  }

  return { createCustomer, updateCustomer };
}
