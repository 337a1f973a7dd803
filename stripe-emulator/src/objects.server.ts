import type Stripe from "stripe";
import fixtureFile from "../fixtures/stripe-fixtures.json";
import { EMULATED_API_VERSION } from "./api-version.server";

/**
 * Builders for the Stripe objects the emulator serves. Each one starts from Stripe's own example
 * object (fixtures/stripe-fixtures.json, copied from stripe/openapi) and overrides the fields that
 * matter; the result is typed with the SDK's type, so the compiler checks every field, whether it
 * came from the fixture or from the override.
 */

type Fixtures = typeof fixtureFile.resources;

export function fromFixture<K extends keyof Fixtures>(name: K): Fixtures[K] {
  return structuredClone(fixtureFile.resources[name]);
}

/**
 * Stripe sends decimals (`unit_amount_decimal`) as JSON strings; the SDK turns them into its
 * `Decimal` class on its side. The emulator only deals in the wire format.
 */
type WireDecimal = NonNullable<Stripe.Price["unit_amount_decimal"]>;
function decimalOnTheWire(value: string): WireDecimal {
  return value as unknown as WireDecimal;
}

const NO_ADDRESS: Stripe.Address = {
  city: null,
  country: null,
  line1: null,
  line2: null,
  postal_code: null,
  state: null,
};

// ---------------------------------------------------------------------------------------------
// Customers, prices, products, line items

export function buildCustomer(input: {
  id: string;
  created: number;
  email: string | null;
  name: string | null;
  description: string | null;
  phone: string | null;
  metadata: Stripe.Metadata;
  invoicePrefix: string;
}): Stripe.Customer {
  return {
    ...fromFixture("customer"),
    id: input.id,
    object: "customer",
    created: input.created,
    email: input.email,
    name: input.name,
    description: input.description,
    phone: input.phone,
    metadata: input.metadata,
    address: null,
    currency: null,
    discount: null,
    invoice_prefix: input.invoicePrefix,
    shipping: null,
    tax_exempt: "none",
    livemode: false,
  };
}

export function buildProduct(input: {
  id: string;
  created: number;
  name: string;
  defaultPrice: string;
}): Stripe.Product {
  return {
    ...fromFixture("product"),
    id: input.id,
    object: "product",
    created: input.created,
    updated: input.created,
    name: input.name,
    description: null,
    default_price: input.defaultPrice,
    package_dimensions: null,
    tax_details: null,
    type: "service",
    livemode: false,
  };
}

export function buildPrice(input: {
  id: string;
  created: number;
  unitAmount: number;
  currency: string;
  product: string;
  recurring: { interval: Stripe.Price.Recurring.Interval; interval_count: number } | null;
}): Stripe.Price {
  return {
    ...fromFixture("price"),
    id: input.id,
    object: "price",
    created: input.created,
    billing_scheme: "per_unit",
    currency: input.currency,
    custom_unit_amount: null,
    product: input.product,
    recurring: input.recurring && {
      interval: input.recurring.interval,
      interval_count: input.recurring.interval_count,
      meter: null,
      trial_period_days: null,
      usage_type: "licensed",
    },
    tax_behavior: "unspecified",
    tiers_mode: null,
    transform_quantity: null,
    type: input.recurring ? "recurring" : "one_time",
    unit_amount: input.unitAmount,
    unit_amount_decimal: decimalOnTheWire(String(input.unitAmount)),
    livemode: false,
  };
}

export function buildLineItem(input: {
  id: string;
  price: Stripe.Price;
  quantity: number;
  description: string;
}): Stripe.LineItem {
  const amount = (input.price.unit_amount ?? 0) * input.quantity;
  return {
    ...fromFixture("item"),
    id: input.id,
    object: "item",
    adjustable_quantity: null,
    amount_discount: 0,
    amount_subtotal: amount,
    amount_tax: 0,
    amount_total: amount,
    currency: input.price.currency,
    description: input.description,
    metadata: {},
    price: input.price,
    quantity: input.quantity,
  };
}

export function buildList<T>(url: string, data: T[], hasMore: boolean): Stripe.ApiList<T> {
  return { object: "list", data, has_more: hasMore, url };
}

// ---------------------------------------------------------------------------------------------
// Checkout Sessions

export function buildCheckoutSession(input: {
  id: string;
  created: number;
  expiresAt: number;
  url: string;
  /** null in setup mode: nothing is paid. */
  amountTotal: number | null;
  currency: string | null;
  customer: string | null;
  customerEmail: string | null;
  clientReferenceId: string | null;
  metadata: Stripe.Metadata;
  successUrl: string | null;
  cancelUrl: string | null;
  paymentMethodTypes: string[];
  locale: Stripe.Checkout.Session.Locale | null;
  submitType: Stripe.Checkout.Session.SubmitType | null;
  billingAddressCollection: Stripe.Checkout.Session.BillingAddressCollection | null;
  allowPromotionCodes: boolean | null;
  customerCreation: Stripe.Checkout.Session.CustomerCreation | null;
  mode: "payment" | "setup" | "subscription";
}): Stripe.Checkout.Session {
  return {
    ...fromFixture("checkout.session"),
    id: input.id,
    object: "checkout.session",
    created: input.created,
    expires_at: input.expiresAt,
    url: input.url,
    adaptive_pricing: null,
    after_expiration: null,
    allow_promotion_codes: input.allowPromotionCodes,
    allowed_payment_method_types: null,
    amount_subtotal: input.amountTotal,
    amount_total: input.amountTotal,
    automatic_tax: { enabled: false, liability: null, provider: null, status: null },
    billing_address_collection: input.billingAddressCollection,
    cancel_url: input.cancelUrl,
    client_reference_id: input.clientReferenceId,
    collected_information: null,
    consent: null,
    consent_collection: null,
    currency: input.currency,
    currency_conversion: null,
    custom_fields: [],
    custom_text: { after_submit: null, shipping_address: null, submit: null, terms_of_service_acceptance: null },
    customer: input.customer,
    customer_account: null,
    customer_creation: input.customerCreation,
    customer_details: null,
    customer_email: input.customerEmail,
    discounts: [],
    invoice: null,
    invoice_creation: {
      enabled: false,
      invoice_data: {
        account_tax_ids: null,
        custom_fields: null,
        description: null,
        footer: null,
        issuer: null,
        metadata: {},
        rendering_options: null,
      },
    },
    livemode: false,
    locale: input.locale,
    managed_payments: null,
    metadata: input.metadata,
    mode: input.mode,
    origin_context: null,
    payment_intent: null,
    payment_link: null,
    payment_method_collection: "always",
    payment_method_configuration_details: null,
    payment_method_options: {},
    payment_method_types: input.paymentMethodTypes,
    payment_status: input.mode === "setup" ? "no_payment_required" : "unpaid",
    permissions: null,
    phone_number_collection: { enabled: false },
    recovered_from: null,
    saved_payment_method_options: null,
    setup_intent: null,
    shipping_address_collection: null,
    shipping_cost: null,
    shipping_options: [],
    status: "open",
    submit_type: input.submitType,
    subscription: null,
    success_url: input.successUrl,
    total_details: input.mode === "setup" ? null : { amount_discount: 0, amount_shipping: 0, amount_tax: 0 },
    ui_mode: "hosted_page",
    wallet_options: null,
  };
}

export function buildCustomerDetails(email: string | null, name: string | null): Stripe.Checkout.Session.CustomerDetails {
  return {
    address: NO_ADDRESS,
    business_name: null,
    email,
    individual_name: null,
    name,
    phone: null,
    tax_exempt: "none",
    tax_ids: [],
  };
}

// ---------------------------------------------------------------------------------------------
// Payments: PaymentIntent and Charge

/** How the customer paid on the hosted page: a card settles at once, a bank debit later. */
export type PaymentMethodKind = "card" | "sepa_debit" | "us_bank_account";

export function buildPaymentIntent(input: {
  id: string;
  created: number;
  amount: number;
  currency: string;
  customer: string | null;
  description: string | null;
  metadata: Stripe.Metadata;
  paymentMethod: string;
  paymentMethodKind: PaymentMethodKind;
  latestCharge: string;
  status: "succeeded" | "processing";
  clientSecret: string;
  /** `setup_future_usage` the payment was made with (it saves the card). */
  setupFutureUsage?: Stripe.PaymentIntent.SetupFutureUsage | null;
}): Stripe.PaymentIntent {
  return {
    ...fromFixture("payment_intent"),
    id: input.id,
    object: "payment_intent",
    created: input.created,
    allowed_payment_method_types: null,
    amount: input.amount,
    amount_capturable: 0,
    amount_details: { tip: {} },
    amount_received: input.status === "succeeded" ? input.amount : 0,
    automatic_payment_methods: null,
    canceled_at: null,
    cancellation_reason: null,
    capture_method: "automatic_async",
    client_secret: input.clientSecret,
    confirmation_method: "automatic",
    currency: input.currency,
    customer: input.customer,
    customer_account: null,
    description: input.description,
    excluded_payment_method_types: null,
    last_payment_error: null,
    latest_charge: input.latestCharge,
    livemode: false,
    managed_payments: null,
    metadata: input.metadata,
    next_action: null,
    payment_method: input.paymentMethod,
    payment_method_configuration_details: null,
    payment_method_options: {},
    payment_method_types: [input.paymentMethodKind],
    payment_record: null,
    processing: null,
    setup_future_usage: input.setupFutureUsage ?? null,
    shipping: null,
    status: input.status,
    transfer_data: null,
  };
}

export function buildCharge(input: {
  id: string;
  created: number;
  amount: number;
  currency: string;
  customer: string | null;
  description: string | null;
  metadata: Stripe.Metadata;
  billingEmail: string | null;
  billingName: string | null;
  paymentIntent: string;
  paymentMethod: string;
  paymentMethodKind: PaymentMethodKind;
  fingerprint: string;
  receiptUrl: string;
  status: "succeeded" | "pending";
  /** The card's details (brand, last4, expiry) when the payment method is a known card. */
  card?: Stripe.PaymentMethod.Card;
}): Stripe.Charge {
  const succeeded = input.status === "succeeded";
  return {
    ...fromFixture("charge"),
    id: input.id,
    object: "charge",
    created: input.created,
    amount: input.amount,
    amount_captured: input.amount,
    amount_refunded: 0,
    balance_transaction: null,
    billing_details: {
      address: NO_ADDRESS,
      email: input.billingEmail,
      name: input.billingName,
      phone: null,
      tax_id: null,
    },
    calculated_statement_descriptor: "STRIPE EMULATOR",
    captured: true,
    currency: input.currency,
    customer: input.customer,
    description: input.description,
    disputed: false,
    failure_code: null,
    failure_message: null,
    fraud_details: {},
    livemode: false,
    metadata: input.metadata,
    outcome: {
      advice_code: null,
      network_advice_code: null,
      network_decline_code: null,
      network_status: "approved_by_network",
      reason: null,
      risk_level: "normal",
      risk_score: 12,
      seller_message: succeeded ? "Payment complete." : "Payment processing.",
      type: "authorized",
    },
    paid: succeeded,
    payment_intent: input.paymentIntent,
    payment_method: input.paymentMethod,
    payment_method_details: buildPaymentMethodDetails(input.paymentMethodKind, input.fingerprint, input.card),
    receipt_email: null,
    receipt_number: null,
    receipt_url: input.receiptUrl,
    refunded: false,
    // Not included unless expanded (API versions since 2022-11-15).
    refunds: undefined,
    review: null,
    shipping: null,
    source: null,
    status: input.status,
    transfer_data: null,
  };
}

function buildPaymentMethodDetails(
  kind: PaymentMethodKind,
  fingerprint: string,
  saved: Stripe.PaymentMethod.Card | undefined,
): Stripe.Charge.PaymentMethodDetails {
  if (kind === "sepa_debit") {
    return {
      type: "sepa_debit",
      sepa_debit: {
        bank_code: "37040044",
        branch_code: null,
        country: "DE",
        fingerprint,
        last4: "3000",
        mandate: null,
      },
    };
  }
  if (kind === "us_bank_account") {
    return {
      type: "us_bank_account",
      us_bank_account: {
        account_holder_type: "individual",
        account_type: "checking",
        bank_name: "STRIPE TEST BANK",
        fingerprint,
        last4: "6789",
        payment_reference: null,
        routing_number: "110000000",
      },
    };
  }
  const { card } = fromFixture("charge").payment_method_details;
  return {
    type: "card",
    card: {
      ...card,
      amount_authorized: null,
      brand: saved?.brand ?? "visa",
      ...(saved
        ? {
            country: saved.country,
            exp_month: saved.exp_month,
            exp_year: saved.exp_year,
            funding: saved.funding,
            last4: saved.last4,
            network: saved.brand,
          }
        : {}),
      checks: { address_line1_check: null, address_postal_code_check: null, cvc_check: "pass" },
      extended_authorization: { status: "disabled" },
      fingerprint: saved?.fingerprint ?? fingerprint,
      incremental_authorization: { status: "unavailable" },
      installments: null,
      multicapture: { status: "unavailable" },
      network_token: { used: false },
      overcapture: { maximum_amount_capturable: 0, status: "unavailable" },
      regulated_status: "unregulated",
      electronic_commerce_indicator: null,
      three_d_secure: null,
      wallet: null,
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Refunds (disputes: dispute-objects.server.ts)

export function buildRefund(input: {
  id: string;
  created: number;
  amount: number;
  charge: Stripe.Charge;
  reason: Stripe.Refund.Reason | null;
  metadata: Stripe.Metadata;
}): Stripe.Refund {
  const { charge } = input;
  const card = charge.payment_method_details?.type === "card";
  return {
    ...fromFixture("refund"),
    id: input.id,
    object: "refund",
    created: input.created,
    amount: input.amount,
    balance_transaction: null,
    charge: charge.id,
    currency: charge.currency,
    customer: typeof charge.customer === "string" ? charge.customer : (charge.customer?.id ?? null),
    customer_account: null,
    destination_details: card
      ? { type: "card", card: { reference_status: "pending", reference_type: "acquirer_reference_number", type: "refund" } }
      : undefined,
    metadata: input.metadata,
    payment_intent: typeof charge.payment_intent === "string" ? charge.payment_intent : (charge.payment_intent?.id ?? null),
    payment_method: charge.payment_method,
    reason: input.reason,
    receipt_number: null,
    status: "succeeded",
  };
}

// ---------------------------------------------------------------------------------------------
// Events

export type EventType = Stripe.Event["type"];
export type EventOf<T extends EventType> = Extract<Stripe.Event, { type: T }>;
export type EventObject<T extends EventType> = EventOf<T>["data"]["object"];

export function buildEvent<T extends EventType>(input: {
  id: string;
  created: number;
  type: T;
  object: EventObject<T>;
  previousAttributes?: Record<string, unknown>;
  request: { id: string | null; idempotencyKey: string | null };
  pendingWebhooks: number;
}): EventOf<T> {
  const fixture = fromFixture("event");
  const event: Stripe.EventBase & { data: Stripe.Event.Data } = {
    ...fixture,
    id: input.id,
    object: "event",
    api_version: EMULATED_API_VERSION,
    created: input.created,
    data: {
      object: input.object,
      ...(input.previousAttributes ? { previous_attributes: input.previousAttributes } : {}),
    },
    livemode: false,
    pending_webhooks: input.pendingWebhooks,
    request: { id: input.request.id, idempotency_key: input.request.idempotencyKey },
    type: input.type,
  };
  // `type` and `data.object` were checked against each other by the signature above; the compiler
  // cannot narrow the union member from a generic `T` on its own.
  return event as EventOf<T>;
}
