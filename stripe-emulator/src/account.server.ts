import type Stripe from "stripe";
import type { Scheduler } from "./activity.server";
import { invalidRequest, resourceMissing } from "./errors.server";
import { derivedId, newId } from "./ids.server";
import { formatAmount } from "./money.server";
import {
  buildCharge,
  buildCheckoutSession,
  buildCustomer,
  buildCustomerDetails,
  buildDispute,
  buildEvent,
  buildLineItem,
  buildPaymentIntent,
  buildPrice,
  buildProduct,
  buildRefund,
  type EventObject,
  type EventType,
  type PaymentMethodKind,
} from "./objects.server";
import type {
  CheckoutSessionCreateParams,
  CustomerCreateParams,
  CustomerUpdateParams,
  DisputeCreateInput,
  PaymentOutcome,
  RefundCreateParams,
} from "./params.server";
import type { EmulatorStore, StoredObjects, StoredObjectType } from "./store.server";
import type { WebhookDispatcher } from "./webhooks.server";

/**
 * The emulated Stripe account: its objects and every state change, each one a single SQLite
 * transaction that also records the events it causes. HTTP lives elsewhere; this module knows
 * nothing of requests and responses.
 */

/** Who caused a change: an API request (its id and idempotency key) or the customer on a page. */
export type RequestContext = { requestId: string | null; idempotencyKey: string | null };
export const CUSTOMER_ACTION: RequestContext = { requestId: null, idempotencyKey: null };

export type CatalogPrice = { id: string; unitAmount: number; currency: string; productName: string };

/** Stripe's default and maximum lifetime of a Checkout Session, and its minimum. */
const SESSION_LIFETIME_S = 24 * 60 * 60;
const SESSION_MIN_LIFETIME_S = 30 * 60;

const ASYNC_PAYMENT_JOB = "async_payment";
type AsyncPaymentJob = { sessionId: string; succeeds: boolean };
type SessionSettings = { paymentIntentDescription: string | null; paymentIntentMetadata: Stripe.Metadata };

/** Names used in "No such ..." errors, as Stripe words them. */
const OBJECT_NAMES: Record<StoredObjectType, string> = {
  customer: "customer",
  price: "price",
  product: "product",
  "checkout.session": "checkout.session",
  item: "line item",
  payment_intent: "payment_intent",
  charge: "charge",
  refund: "refund",
  dispute: "dispute",
};

export type EmulatedAccount = ReturnType<typeof createEmulatedAccount>;

export function createEmulatedAccount(deps: {
  store: EmulatorStore;
  dispatcher: WebhookDispatcher;
  scheduler: Scheduler;
  publicUrl: string;
  asyncPaymentDelayMs: number;
  now: () => number;
  log: (msg: string, fields?: Record<string, unknown>) => void;
}) {
  const { store, dispatcher, scheduler, publicUrl, asyncPaymentDelayMs, now, log } = deps;
  const nowSeconds = () => Math.floor(now() / 1000);

  function emit<T extends EventType>(
    type: T,
    object: EventObject<T>,
    context: RequestContext,
    previousAttributes?: Record<string, unknown>,
  ): void {
    dispatcher.record(
      buildEvent({
        id: newId.event(),
        created: nowSeconds(),
        type,
        object,
        previousAttributes,
        request: { id: context.requestId, idempotencyKey: context.idempotencyKey },
        pendingWebhooks: dispatcher.pendingWebhooks(),
      }),
    );
  }

  /** Reads an object the URL names: a 404 when it does not exist. */
  function retrieve<K extends StoredObjectType>(type: K, id: string): StoredObjects[K] {
    const object = store.getObject(type, id);
    if (!object) throw resourceMissing(OBJECT_NAMES[type], id, { param: "id", status: 404 });
    return object;
  }

  /** Reads an object a parameter names: a 400 that points at the parameter. */
  function lookup<K extends StoredObjectType>(type: K, id: string, param: string): StoredObjects[K] {
    const object = store.getObject(type, id);
    if (!object) throw resourceMissing(OBJECT_NAMES[type], id, { param, status: 400 });
    return object;
  }

  function idOf(value: string | { id: string } | null): string | null {
    return typeof value === "string" || value === null ? value : value.id;
  }

  // -------------------------------------------------------------------------------------------
  // Catalog

  /** Writes the configured prices (and a product for each) so that they can be retrieved. */
  function syncCatalog(prices: CatalogPrice[]): void {
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
          }),
        );
      }
    });
  }

  // -------------------------------------------------------------------------------------------
  // Customers

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
      };
      store.putObject(after);
      const previous: Record<string, unknown> = {};
      for (const key of ["email", "name", "description", "phone", "metadata"] as const) {
        if (JSON.stringify(before[key]) !== JSON.stringify(after[key])) previous[key] = before[key];
      }
      if (Object.keys(previous).length > 0) emit("customer.updated", after, context, previous);
      return after;
    });
  }

  // -------------------------------------------------------------------------------------------
  // Checkout Sessions

  function createCheckoutSession(params: CheckoutSessionCreateParams): Stripe.Checkout.Session {
    if (params.customer && params.customer_email) {
      throw invalidRequest("You may only specify one of these parameters: customer, customer_email.", {
        param: "customer_email",
        code: "parameters_exclusive",
      });
    }
    const customer = params.customer ? lookup("customer", params.customer, "customer") : null;
    const items = params.line_items.map((item, index) => {
      const price = lookup("price", item.price, `line_items[${index}][price]`);
      if (!price.active) {
        throw invalidRequest(`The price specified is inactive: '${price.id}'.`, { param: `line_items[${index}][price]` });
      }
      return { price, quantity: item.quantity };
    });
    const currency = items[0].price.currency;
    if (items.some((item) => item.price.currency !== currency)) {
      throw invalidRequest("All line items must use prices with the same currency.", { param: "line_items" });
    }
    const created = nowSeconds();
    if (
      params.expires_at !== undefined &&
      (params.expires_at < created + SESSION_MIN_LIFETIME_S || params.expires_at > created + SESSION_LIFETIME_S)
    ) {
      throw invalidRequest(
        "The `expires_at` timestamp must be between 30 minutes and 24 hours from Checkout Session creation.",
        { param: "expires_at" },
      );
    }
    const id = newId.checkoutSession();
    const session = buildCheckoutSession({
      id,
      created,
      expiresAt: params.expires_at ?? created + SESSION_LIFETIME_S,
      url: `${publicUrl}/checkout/${id}`,
      amountTotal: items.reduce((sum, item) => sum + (item.price.unit_amount ?? 0) * item.quantity, 0),
      currency,
      customer: customer?.id ?? null,
      customerEmail: params.customer_email ?? null,
      clientReferenceId: params.client_reference_id ?? null,
      metadata: params.metadata ?? {},
      successUrl: params.success_url ?? null,
      cancelUrl: params.cancel_url ?? null,
      paymentMethodTypes: params.payment_method_types ?? ["card"],
      locale: params.locale ?? null,
      submitType: params.submit_type ?? null,
      billingAddressCollection: params.billing_address_collection ?? null,
      allowPromotionCodes: params.allow_promotion_codes ?? null,
      customerCreation: params.customer_creation ?? (customer ? null : "if_required"),
    });
    const settings: SessionSettings = {
      paymentIntentDescription: params.payment_intent_data?.description ?? null,
      paymentIntentMetadata: params.payment_intent_data?.metadata ?? {},
    };
    return store.transaction(() => {
      store.putObject(session);
      for (const item of items) {
        const productId = idOf(item.price.product) ?? "";
        store.putObject(
          buildLineItem({
            id: newId.lineItem(),
            price: item.price,
            quantity: item.quantity,
            description: store.getObject("product", productId)?.name ?? item.price.id,
          }),
          session.id,
        );
      }
      store.putState(`session_settings:${session.id}`, settings);
      // Stripe emits no event when a session is created.
      return session;
    });
  }

  /** A session, expired first if its time is up (Stripe expires sessions on its own). */
  function getCheckoutSession(id: string): Stripe.Checkout.Session {
    const session = retrieve("checkout.session", id);
    if (session.status === "open" && session.expires_at <= nowSeconds()) {
      return expireCheckoutSession(id, CUSTOMER_ACTION);
    }
    return session;
  }

  function findCheckoutSession(id: string): Stripe.Checkout.Session | undefined {
    return store.getObject("checkout.session", id) ? getCheckoutSession(id) : undefined;
  }

  function listLineItems(sessionId: string): Stripe.LineItem[] {
    retrieve("checkout.session", sessionId);
    return store.listChildren("item", sessionId);
  }

  function expireCheckoutSession(id: string, context: RequestContext): Stripe.Checkout.Session {
    return store.transaction(() => {
      const session = retrieve("checkout.session", id);
      if (session.status !== "open") {
        throw invalidRequest(
          `Only Checkout Sessions with a status in ["open"] can be expired. This Checkout Session has a status of "${session.status}".`,
          { code: "checkout_session_not_open" },
        );
      }
      const expired: Stripe.Checkout.Session = { ...session, status: "expired", url: null };
      store.putObject(expired);
      emit("checkout.session.expired", expired, context);
      return expired;
    });
  }

  /** Expires every open session whose time is up. */
  function expireDueSessions(): void {
    const due = nowSeconds();
    for (const session of store.listObjects("checkout.session")) {
      if (session.status === "open" && session.expires_at <= due) expireCheckoutSession(session.id, CUSTOMER_ACTION);
    }
  }

  /**
   * What the hosted page's buttons do. `paid`: a card payment that succeeds at once. `delayed_*`:
   * a bank debit; the session completes unpaid now and settles after `asyncPaymentDelayMs`.
   * A session that is not open is left alone (`completed: false`): never a second payment.
   */
  function completeCheckoutSession(
    id: string,
    outcome: PaymentOutcome,
  ): { completed: boolean; session: Stripe.Checkout.Session } {
    const current = getCheckoutSession(id);
    if (current.status !== "open") return { completed: false, session: current };

    const result = store.transaction(() => {
      const session = retrieve("checkout.session", id);
      if (session.status !== "open") return { completed: false, session };
      const settled = outcome === "paid";
      const kind: PaymentMethodKind = settled ? "card" : session.currency === "eur" ? "sepa_debit" : "us_bank_account";
      const settings = (store.getState(`session_settings:${id}`) as SessionSettings | undefined) ?? {
        paymentIntentDescription: null,
        paymentIntentMetadata: {},
      };
      const created = nowSeconds();

      let customer = session.customer ? store.getObject("customer", idOf(session.customer) ?? "") ?? null : null;
      if (!customer && session.customer_creation === "always") {
        customer = buildCustomer({
          id: newId.customer(),
          created,
          email: session.customer_email,
          name: null,
          description: null,
          phone: null,
          metadata: {},
          invoicePrefix: newId.invoicePrefix(),
        });
        store.putObject(customer);
        emit("customer.created", customer, CUSTOMER_ACTION);
      }
      const email = customer?.email ?? session.customer_email;
      const amount = session.amount_total ?? 0;
      const currency = session.currency ?? "usd";
      const paymentIntentId = newId.paymentIntent();
      const chargeId = newId.charge();
      const paymentMethod = newId.paymentMethod();

      const charge = buildCharge({
        id: chargeId,
        created,
        amount,
        currency,
        customer: customer?.id ?? null,
        description: settings.paymentIntentDescription,
        metadata: settings.paymentIntentMetadata,
        billingEmail: email,
        billingName: customer?.name ?? null,
        paymentIntent: paymentIntentId,
        paymentMethod,
        paymentMethodKind: kind,
        fingerprint: newId.fingerprint(),
        receiptUrl: `${publicUrl}/receipts/${chargeId}`,
        status: settled ? "succeeded" : "pending",
      });
      const paymentIntent = buildPaymentIntent({
        id: paymentIntentId,
        created,
        amount,
        currency,
        customer: customer?.id ?? null,
        description: settings.paymentIntentDescription,
        metadata: settings.paymentIntentMetadata,
        paymentMethod,
        paymentMethodKind: kind,
        latestCharge: chargeId,
        status: settled ? "succeeded" : "processing",
        clientSecret: `${paymentIntentId}_secret_${newId.secret()}`,
      });
      const completed: Stripe.Checkout.Session = {
        ...session,
        status: "complete",
        payment_status: settled ? "paid" : "unpaid",
        payment_intent: paymentIntentId,
        customer: customer?.id ?? null,
        customer_details: buildCustomerDetails(email, customer?.name ?? null),
        url: null,
      };
      store.putObject(paymentIntent);
      store.putObject(charge, paymentIntentId);
      store.putObject(completed);

      if (settled) {
        emit("charge.succeeded", charge, CUSTOMER_ACTION);
        emit("payment_intent.succeeded", paymentIntent, CUSTOMER_ACTION);
      } else {
        emit("charge.pending", charge, CUSTOMER_ACTION);
        emit("payment_intent.processing", paymentIntent, CUSTOMER_ACTION);
        const job: AsyncPaymentJob = { sessionId: id, succeeds: outcome === "delayed_success" };
        store.putJob({ id: asyncJobId(id), kind: ASYNC_PAYMENT_JOB, dueAt: now() + asyncPaymentDelayMs, data: job });
      }
      emit("checkout.session.completed", completed, CUSTOMER_ACTION);
      return { completed: true, session: completed };
    });

    if (result.completed && outcome !== "paid") scheduleAsyncPayment(id, asyncPaymentDelayMs);
    log("stripe-emulator: checkout session completed", { sessionId: id, outcome, completed: result.completed });
    return result;
  }

  function asyncJobId(sessionId: string): string {
    return `${ASYNC_PAYMENT_JOB}:${sessionId}`;
  }

  function scheduleAsyncPayment(sessionId: string, delayMs: number): void {
    scheduler.schedule(asyncJobId(sessionId), delayMs, () => {
      settleAsyncPayment(sessionId);
    });
  }

  /** The bank's answer for a delayed payment: the money arrived, or it did not. */
  function settleAsyncPayment(sessionId: string): void {
    store.transaction(() => {
      const job = store.getJob(asyncJobId(sessionId));
      if (!job) return;
      store.deleteJob(job.id);
      const { succeeds } = job.data as AsyncPaymentJob;
      const session = retrieve("checkout.session", sessionId);
      const paymentIntent = retrieve("payment_intent", idOf(session.payment_intent) ?? "");
      const charge = retrieve("charge", idOf(paymentIntent.latest_charge) ?? "");
      if (paymentIntent.status !== "processing") return;

      if (succeeds) {
        const paidCharge: Stripe.Charge = {
          ...charge,
          status: "succeeded",
          paid: true,
          outcome: charge.outcome && { ...charge.outcome, seller_message: "Payment complete." },
        };
        const paidIntent: Stripe.PaymentIntent = {
          ...paymentIntent,
          status: "succeeded",
          amount_received: paymentIntent.amount,
        };
        const paidSession: Stripe.Checkout.Session = { ...session, payment_status: "paid" };
        store.putObject(paidCharge, paidIntent.id);
        store.putObject(paidIntent);
        store.putObject(paidSession);
        emit("charge.succeeded", paidCharge, CUSTOMER_ACTION, { status: charge.status, paid: charge.paid });
        emit("payment_intent.succeeded", paidIntent, CUSTOMER_ACTION);
        emit("checkout.session.async_payment_succeeded", paidSession, CUSTOMER_ACTION);
      } else {
        const failureMessage = "The customer's account has insufficient funds to cover this payment.";
        const failedCharge: Stripe.Charge = {
          ...charge,
          status: "failed",
          paid: false,
          failure_code: "insufficient_funds",
          failure_message: failureMessage,
          outcome: charge.outcome && {
            ...charge.outcome,
            network_status: "declined_by_network",
            reason: "insufficient_funds",
            seller_message: "The bank returned the decline code `insufficient_funds`.",
            type: "issuer_declined",
          },
        };
        const failedIntent: Stripe.PaymentIntent = {
          ...paymentIntent,
          status: "requires_payment_method",
          payment_method: null,
          last_payment_error: {
            type: "card_error",
            code: "insufficient_funds",
            charge: charge.id,
            message: failureMessage,
            payment_method_type: paymentIntent.payment_method_types[0],
          },
        };
        store.putObject(failedCharge, failedIntent.id);
        store.putObject(failedIntent);
        emit("charge.failed", failedCharge, CUSTOMER_ACTION, { status: charge.status });
        emit("payment_intent.payment_failed", failedIntent, CUSTOMER_ACTION);
        emit("checkout.session.async_payment_failed", session, CUSTOMER_ACTION);
      }
      log("stripe-emulator: delayed payment settled", { sessionId, succeeds });
    });
  }

  /** Settles every delayed payment now (test driver), instead of waiting for its timer. */
  function settleAllAsyncPayments(): number {
    const jobs = store.listJobs().filter((job) => job.kind === ASYNC_PAYMENT_JOB);
    for (const job of jobs) {
      const { sessionId } = job.data as AsyncPaymentJob;
      scheduler.cancel(asyncJobId(sessionId));
      settleAsyncPayment(sessionId);
    }
    return jobs.length;
  }

  /** After a restart: the delayed payments that had not settled yet get their timers back. */
  function resumeAsyncPayments(): void {
    for (const job of store.listJobs()) {
      if (job.kind !== ASYNC_PAYMENT_JOB) continue;
      scheduleAsyncPayment((job.data as AsyncPaymentJob).sessionId, job.dueAt - now());
    }
  }

  // -------------------------------------------------------------------------------------------
  // Refunds

  function createRefund(params: RefundCreateParams, context: RequestContext): Stripe.Refund {
    if (!params.charge && !params.payment_intent) {
      throw invalidRequest("One of the following params should be provided for this request: payment_intent or charge.", {
        param: "payment_intent",
        code: "parameter_missing",
      });
    }
    return store.transaction(() => {
      let charge: Stripe.Charge | null = null;
      const param = params.payment_intent ? "payment_intent" : "charge";
      if (params.payment_intent) {
        const paymentIntent = lookup("payment_intent", params.payment_intent, "payment_intent");
        const chargeId = idOf(paymentIntent.latest_charge);
        charge = chargeId ? retrieve("charge", chargeId) : null;
        if (!charge || paymentIntent.status !== "succeeded") {
          throw invalidRequest(
            `This PaymentIntent (${paymentIntent.id}) does not have a successful charge to refund.`,
            { param, code: "charge_not_refundable" },
          );
        }
      }
      if (params.charge) {
        const named = lookup("charge", params.charge, "charge");
        if (charge && charge.id !== named.id) {
          throw invalidRequest(`Charge ${named.id} does not belong to PaymentIntent ${params.payment_intent}.`, {
            param: "charge",
          });
        }
        charge = named;
      }
      if (!charge) throw new Error("unreachable: a charge or payment_intent was required");
      if (charge.status !== "succeeded") {
        throw invalidRequest(`Charge ${charge.id} has not succeeded and cannot be refunded (status: ${charge.status}).`, {
          param,
          code: "charge_not_refundable",
        });
      }
      const blockingDispute = store
        .listChildren("dispute", charge.id)
        .find((dispute) => !dispute.is_charge_refundable && dispute.status !== "won");
      if (blockingDispute) {
        throw invalidRequest(`Charge ${charge.id} has been charged back; cannot issue a refund.`, {
          param,
          code: "charge_disputed",
        });
      }
      const remaining = charge.amount - charge.amount_refunded;
      if (remaining <= 0) {
        throw invalidRequest(`Charge ${charge.id} has already been refunded.`, { param, code: "charge_already_refunded" });
      }
      const amount = params.amount ?? remaining;
      if (amount > remaining) {
        throw invalidRequest(
          `Refund amount (${formatAmount(amount, charge.currency)}) is greater than unrefunded amount on charge (${formatAmount(remaining, charge.currency)})`,
          { param: "amount", code: "amount_too_large" },
        );
      }
      const refund = buildRefund({
        id: newId.refund(),
        created: nowSeconds(),
        amount,
        charge,
        reason: params.reason ?? null,
        metadata: params.metadata ?? {},
      });
      const refundedCharge: Stripe.Charge = {
        ...charge,
        amount_refunded: charge.amount_refunded + amount,
        refunded: charge.amount_refunded + amount === charge.amount,
      };
      store.putObject(refund, charge.id);
      store.putObject(refundedCharge, idOf(charge.payment_intent));
      emit("charge.refunded", refundedCharge, context, {
        amount_refunded: charge.amount_refunded,
        refunded: charge.refunded,
      });
      emit("refund.created", refund, context);
      return refund;
    });
  }

  function listRefunds(chargeId: string): Stripe.Refund[] {
    return store.listChildren("refund", chargeId);
  }

  // -------------------------------------------------------------------------------------------
  // Disputes (test driver: in real life the cardholder's bank opens them)

  function createDispute(chargeId: string, input: DisputeCreateInput): Stripe.Dispute {
    return store.transaction(() => {
      const charge = retrieve("charge", chargeId);
      if (charge.status !== "succeeded") {
        throw invalidRequest(`Charge ${charge.id} has not succeeded; it cannot be disputed.`, { param: "charge" });
      }
      if (charge.disputed) {
        throw invalidRequest(`Charge ${charge.id} is already disputed.`, { param: "charge" });
      }
      const amount = input.amount ?? charge.amount;
      if (amount > charge.amount) {
        throw invalidRequest("A dispute cannot be for more than the charge amount.", { param: "amount" });
      }
      const dispute = buildDispute({
        id: newId.dispute(),
        created: nowSeconds(),
        amount,
        charge,
        reason: input.reason ?? "fraudulent",
      });
      const disputedCharge: Stripe.Charge = { ...charge, disputed: true };
      store.putObject(dispute, charge.id);
      store.putObject(disputedCharge, idOf(charge.payment_intent));
      emit("charge.dispute.created", dispute, CUSTOMER_ACTION);
      return dispute;
    });
  }

  function closeDispute(disputeId: string, status: "won" | "lost"): Stripe.Dispute {
    return store.transaction(() => {
      const dispute = retrieve("dispute", disputeId);
      if (dispute.status === "won" || dispute.status === "lost") {
        throw invalidRequest(`Dispute ${dispute.id} is already closed (${dispute.status}).`);
      }
      const closed: Stripe.Dispute = { ...dispute, status };
      store.putObject(closed, idOf(dispute.charge));
      emit("charge.dispute.closed", closed, CUSTOMER_ACTION, { status: dispute.status });
      return closed;
    });
  }

  return {
    syncCatalog,
    retrieve,
    findObject: store.findObject,
    createCustomer,
    updateCustomer,
    createCheckoutSession,
    getCheckoutSession,
    findCheckoutSession,
    listLineItems,
    expireCheckoutSession,
    expireDueSessions,
    completeCheckoutSession,
    settleAllAsyncPayments,
    resumeAsyncPayments,
    createRefund,
    listRefunds,
    createDispute,
    closeDispute,
  };
}

function mergeMetadata(before: Stripe.Metadata, update: Stripe.Metadata | undefined): Stripe.Metadata {
  if (!update) return before;
  const merged = { ...before };
  for (const [key, value] of Object.entries(update)) {
    if (value === "") delete merged[key];
    else merged[key] = value;
  }
  return merged;
}
