import type Stripe from "stripe";
import { CUSTOMER_ACTION, idOf, type AccountCore, type RequestContext } from "./account-core.server";
import { invalidRequest } from "./errors.server";
import { newId } from "./ids.server";
import { buildCheckoutSession, buildLineItem } from "./objects.server";
import type { CheckoutSessionCreateParams } from "./params.server";

/** Checkout Sessions while they are open: creating, reading and expiring them. */

/** Stripe's default and maximum lifetime of a Checkout Session, and its minimum. */
const SESSION_LIFETIME_S = 24 * 60 * 60;
const SESSION_MIN_LIFETIME_S = 30 * 60;

/** What a session was created with that shows only once it is paid (on its PaymentIntent). */
export type SessionSettings = {
  paymentIntentDescription: string | null;
  paymentIntentMetadata: Stripe.Metadata;
  /** `payment_intent_data[setup_future_usage]` (payment mode): the card is saved for later. */
  setupFutureUsage?: "off_session" | "on_session" | null;
  /** `setup_intent_data` (setup mode): what the SetupIntent is created with. */
  setupIntentDescription?: string | null;
  setupIntentMetadata?: Stripe.Metadata;
  /** `subscription_data` (subscription mode): what the subscription is created with. */
  subscriptionDescription?: string | null;
  subscriptionMetadata?: Stripe.Metadata;
};

export function sessionSettings(core: AccountCore, sessionId: string): SessionSettings {
  return (
    (core.store.getState(`session_settings:${sessionId}`) as SessionSettings | undefined) ?? {
      paymentIntentDescription: null,
      paymentIntentMetadata: {},
    }
  );
}

/** Stripe's rules for what each mode takes (and the emulator's one-item limit for subscriptions). */
function checkMode(params: CheckoutSessionCreateParams, items: Array<{ price: Stripe.Price }>): void {
  const onlyIn = (param: string, mode: string) =>
    invalidRequest(`You can only specify \`${param}\` in \`${mode}\` mode.`, { param });
  if (params.setup_intent_data && params.mode !== "setup") throw onlyIn("setup_intent_data", "setup");
  if (params.currency && params.mode !== "setup") {
    throw invalidRequest("The Stripe emulator takes `currency` in setup mode only; in the other modes the prices set it.", {
      param: "currency",
    });
  }
  if (params.mode === "setup") {
    if (params.line_items) {
      throw invalidRequest("You cannot pass `line_items` in `setup` mode.", { param: "line_items" });
    }
    if (params.payment_intent_data) throw onlyIn("payment_intent_data", "payment");
    if (params.subscription_data) throw onlyIn("subscription_data", "subscription");
    if (params.customer_creation) throw onlyIn("customer_creation", "payment");
    if (params.allow_promotion_codes) throw onlyIn("allow_promotion_codes", "payment` or `subscription");
    // Stripe also takes `allowed_payment_method_types` instead, which the emulator does not model.
    if (!params.currency) {
      throw invalidRequest("Missing required param: currency.", {
        param: "currency",
        code: "parameter_missing",
      });
    }
    return;
  }
  if (items.length === 0) {
    throw invalidRequest("Missing required param: line_items.", { param: "line_items", code: "parameter_missing" });
  }
  if (params.mode === "payment") {
    if (params.subscription_data) throw onlyIn("subscription_data", "subscription");
    const recurring = items.findIndex((item) => item.price.recurring);
    if (recurring >= 0) {
      throw invalidRequest(
        "You specified `payment` mode but passed a recurring price. Either switch to `subscription` mode or use only one-time prices.",
        { param: `line_items[${recurring}][price]` },
      );
    }
    return;
  }
  if (params.payment_intent_data) throw onlyIn("payment_intent_data", "payment");
  if (params.customer_creation) throw onlyIn("customer_creation", "payment");
  if (items.length !== 1 || !items[0].price.recurring) {
    throw invalidRequest(
      "In `subscription` mode the Stripe emulator takes exactly one line item, with a recurring price.",
      { param: "line_items" },
    );
  }
}

export function createCheckoutSessions(core: AccountCore) {
  const { store, emit, retrieve, lookup, nowSeconds, publicUrl } = core;

  function createCheckoutSession(params: CheckoutSessionCreateParams): Stripe.Checkout.Session {
    if (params.customer && params.customer_email) {
      throw invalidRequest("You may only specify one of these parameters: customer, customer_email.", {
        param: "customer_email",
        code: "parameters_exclusive",
      });
    }
    const customer = params.customer ? lookup("customer", params.customer, "customer") : null;
    const items = (params.line_items ?? []).map((item, index) => {
      const price = lookup("price", item.price, `line_items[${index}][price]`);
      if (!price.active) {
        throw invalidRequest(`The price specified is inactive: '${price.id}'.`, { param: `line_items[${index}][price]` });
      }
      return { price, quantity: item.quantity };
    });
    checkMode(params, items);
    const currency = items[0]?.price.currency ?? params.currency ?? null;
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
      amountTotal:
        params.mode === "setup" ? null : items.reduce((sum, item) => sum + (item.price.unit_amount ?? 0) * item.quantity, 0),
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
      customerCreation:
        params.mode === "payment" ? (params.customer_creation ?? (customer ? null : "if_required")) : null,
      mode: params.mode,
    });
    const settings: SessionSettings = {
      paymentIntentDescription: params.payment_intent_data?.description ?? null,
      paymentIntentMetadata: params.payment_intent_data?.metadata ?? {},
      setupFutureUsage: params.payment_intent_data?.setup_future_usage ?? null,
      setupIntentDescription: params.setup_intent_data?.description ?? null,
      setupIntentMetadata: params.setup_intent_data?.metadata ?? {},
      subscriptionDescription: params.subscription_data?.description ?? null,
      subscriptionMetadata: params.subscription_data?.metadata ?? {},
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

  return {
    createCheckoutSession,
    getCheckoutSession,
    findCheckoutSession,
    listLineItems,
    expireCheckoutSession,
    expireDueSessions,
  };
}
