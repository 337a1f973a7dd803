import type Stripe from "stripe";
import { fromFixture } from "./objects.server";

/**
 * Builders for Billing's objects: Subscriptions (with their items and the legacy `plan` each item
 * still carries), Invoices with their lines and payments, and Customer Portal sessions. Like
 * objects.server.ts: Stripe's example object (fixtures/stripe-fixtures.json), overridden where it
 * matters, typed with the SDK's types.
 *
 * In this API version the service period lives on the subscription ITEM
 * (`items.data[].current_period_start/end`), an invoice names its subscription under
 * `parent.subscription_details`, and a line names its price under `pricing.price_details`.
 */

type WireDecimal = NonNullable<Stripe.Price["unit_amount_decimal"]>;
const decimal = (value: number): WireDecimal => String(value) as unknown as WireDecimal;

export type Period = { start: number; end: number };

/** The end of one billing period that starts at `start` (calendar months clamp to the month's end). */
export function periodEnd(start: number, recurring: Stripe.Price.Recurring): number {
  const date = new Date(start * 1000);
  const count = recurring.interval_count;
  if (recurring.interval === "day") return start + count * 86_400;
  if (recurring.interval === "week") return start + count * 7 * 86_400;
  const months = recurring.interval === "year" ? 12 * count : count;
  const target = new Date(date);
  target.setUTCDate(1);
  target.setUTCMonth(target.getUTCMonth() + months);
  const lastDay = new Date(Date.UTC(target.getUTCFullYear(), target.getUTCMonth() + 1, 0)).getUTCDate();
  target.setUTCDate(Math.min(date.getUTCDate(), lastDay));
  return Math.floor(target.getTime() / 1000);
}

/** The deprecated `plan` a subscription item still carries: the same facts as its recurring price. */
export function buildPlan(price: Stripe.Price): Stripe.Plan {
  const recurring = price.recurring;
  if (!recurring) throw new Error(`price ${price.id} is not recurring`);
  return {
    ...fromFixture("plan"),
    id: price.id,
    object: "plan",
    active: price.active,
    amount: price.unit_amount,
    amount_decimal: price.unit_amount_decimal,
    billing_scheme: "per_unit",
    created: price.created,
    currency: price.currency,
    interval: recurring.interval,
    interval_count: recurring.interval_count,
    livemode: false,
    metadata: {},
    meter: null,
    nickname: null,
    product: price.product,
    tiers_mode: null,
    transform_usage: null,
    trial_period_days: null,
    usage_type: "licensed",
  };
}

export function buildSubscriptionItem(input: {
  id: string;
  created: number;
  subscription: string;
  price: Stripe.Price;
  quantity: number;
  period: Period;
}): Stripe.SubscriptionItem {
  return {
    ...fromFixture("subscription_item"),
    id: input.id,
    object: "subscription_item",
    billing_thresholds: null,
    created: input.created,
    current_period_start: input.period.start,
    current_period_end: input.period.end,
    current_trial: null,
    discounts: [],
    metadata: {},
    plan: buildPlan(input.price),
    price: input.price,
    quantity: input.quantity,
    subscription: input.subscription,
    tax_rates: [],
  };
}

export function buildSubscription(input: {
  id: string;
  created: number;
  customer: string;
  currency: string;
  item: Stripe.SubscriptionItem;
  defaultPaymentMethod: string;
  description: string | null;
  metadata: Stripe.Metadata;
  latestInvoice: string | null;
}): Stripe.Subscription {
  return {
    ...fromFixture("subscription"),
    id: input.id,
    object: "subscription",
    application: null,
    application_fee_percent: null,
    automatic_tax: { enabled: false, liability: null, disabled_reason: null },
    billing_cycle_anchor: input.item.current_period_start,
    billing_cycle_anchor_config: null,
    billing_mode: { type: "classic", flexible: null },
    billing_schedules: [],
    billing_thresholds: null,
    cancel_at: null,
    cancel_at_period_end: false,
    canceled_at: null,
    cancellation_details: { comment: null, feedback: null, feedback_option: null, reason: null },
    collection_method: "charge_automatically",
    created: input.created,
    currency: input.currency,
    customer: input.customer,
    customer_account: null,
    days_until_due: null,
    default_payment_method: input.defaultPaymentMethod,
    default_source: null,
    default_tax_rates: [],
    description: input.description,
    discounts: [],
    ended_at: null,
    invoice_settings: { account_tax_ids: null, custom_fields: null, description: null, footer: null, issuer: { type: "self" } },
    items: { object: "list", data: [input.item], has_more: false, url: `/v1/subscription_items?subscription=${input.id}` },
    latest_invoice: input.latestInvoice,
    livemode: false,
    managed_payments: null,
    metadata: input.metadata,
    next_pending_invoice_item_invoice: null,
    on_behalf_of: null,
    pause_collection: null,
    payment_settings: { payment_method_options: null, payment_method_types: null, save_default_payment_method: "off" },
    pending_invoice_item_interval: null,
    pending_setup_intent: null,
    pending_update: null,
    schedule: null,
    start_date: input.created,
    status: "active",
    test_clock: null,
    transfer_data: null,
    trial_end: null,
    trial_settings: { end_behavior: { billing_cycle_anchor: null, missing_payment_method: "create_invoice" } },
    trial_start: null,
  };
}

export function buildInvoiceLine(input: {
  id: string;
  invoice: string;
  subscription: string;
  item: Stripe.SubscriptionItem;
  description: string;
}): Stripe.InvoiceLineItem {
  const { item } = input;
  const quantity = item.quantity ?? 1;
  const amount = (item.price.unit_amount ?? 0) * quantity;
  return {
    ...fromFixture("line_item"),
    id: input.id,
    object: "line_item",
    amount,
    currency: item.price.currency,
    description: input.description,
    discount_amounts: [],
    discountable: true,
    discounts: [],
    invoice: input.invoice,
    livemode: false,
    metadata: {},
    parent: {
      type: "subscription_item_details",
      invoice_item_details: null,
      subscription_item_details: {
        invoice_item: null,
        proration: false,
        proration_details: { credited_items: null },
        subscription: input.subscription,
        subscription_item: item.id,
      },
    },
    period: { start: item.current_period_start, end: item.current_period_end },
    pretax_credit_amounts: [],
    pricing: {
      type: "price_details",
      price_details: { price: item.price.id, product: typeof item.price.product === "string" ? item.price.product : item.price.product.id },
      unit_amount_decimal: item.price.unit_amount_decimal,
    },
    quantity,
    quantity_decimal: decimal(quantity),
    subscription: input.subscription,
    subtotal: amount,
    taxes: [],
  };
}

export function buildInvoice(input: {
  id: string;
  created: number;
  number: string;
  customer: Stripe.Customer;
  subscription: Stripe.Subscription;
  billingReason: "subscription_create" | "subscription_cycle";
  period: Period;
  line: Stripe.InvoiceLineItem;
}): Stripe.Invoice {
  const { customer, subscription, line } = input;
  const fixture: Partial<ReturnType<typeof fromFixture<"invoice">>> = fromFixture("invoice");
  // The fixture still has the top-level `subscription` older API versions had; this one has none.
  delete fixture.subscription;
  return {
    ...(fixture as Omit<ReturnType<typeof fromFixture<"invoice">>, "subscription">),
    id: input.id,
    object: "invoice",
    account_country: "US",
    account_name: "Stripe emulator",
    account_tax_ids: null,
    amount_due: line.amount,
    amount_overpaid: 0,
    amount_paid: 0,
    amount_remaining: line.amount,
    amount_shipping: 0,
    application: null,
    attempt_count: 0,
    attempted: false,
    auto_advance: true,
    automatic_tax: { enabled: false, liability: null, status: null, disabled_reason: null, provider: null },
    automatically_finalizes_at: null,
    billing_reason: input.billingReason,
    collection_method: "charge_automatically",
    created: input.created,
    currency: line.currency,
    custom_fields: null,
    customer: customer.id,
    customer_account: null,
    customer_address: null,
    customer_email: customer.email ?? null,
    customer_name: customer.name ?? null,
    customer_phone: customer.phone ?? null,
    customer_shipping: null,
    customer_tax_exempt: "none",
    customer_tax_ids: [],
    default_payment_method: null,
    default_source: null,
    default_tax_rates: [],
    description: null,
    discounts: [],
    due_date: null,
    effective_at: null,
    ending_balance: null,
    footer: null,
    from_invoice: null,
    hosted_invoice_url: null,
    invoice_pdf: null,
    issuer: { type: "self" },
    last_finalization_error: null,
    latest_revision: null,
    lines: { object: "list", data: [line], has_more: false, url: `/v1/invoices/${input.id}/lines` },
    livemode: false,
    metadata: {},
    next_payment_attempt: null,
    number: input.number,
    on_behalf_of: null,
    parent: {
      type: "subscription_details",
      quote_details: null,
      subscription_details: { subscription: subscription.id, metadata: subscription.metadata },
    },
    period_start: input.period.start,
    period_end: input.period.end,
    post_payment_credit_notes_amount: 0,
    pre_payment_credit_notes_amount: 0,
    receipt_number: null,
    shipping_cost: null,
    shipping_details: null,
    starting_balance: 0,
    statement_descriptor: null,
    status: "draft",
    status_transitions: { finalized_at: null, marked_uncollectible_at: null, paid_at: null, voided_at: null },
    subtotal: line.amount,
    subtotal_excluding_tax: line.amount,
    test_clock: null,
    total: line.amount,
    total_discount_amounts: [],
    total_excluding_tax: line.amount,
    total_pretax_credit_amounts: [],
    total_taxes: [],
    webhooks_delivered_at: null,
  };
}

export function buildInvoicePayment(input: {
  id: string;
  created: number;
  invoice: Stripe.Invoice;
  paymentIntent: string;
  paidAt: number | null;
}): Stripe.InvoicePayment {
  return {
    ...fromFixture("invoice_payment"),
    id: input.id,
    object: "invoice_payment",
    amount_paid: input.paidAt === null ? null : input.invoice.amount_due,
    amount_requested: input.invoice.amount_due,
    created: input.created,
    currency: input.invoice.currency,
    invoice: input.invoice.id,
    is_default: true,
    livemode: false,
    payment: { type: "payment_intent", payment_intent: input.paymentIntent },
    status: input.paidAt === null ? "open" : "paid",
    status_transitions: { canceled_at: null, paid_at: input.paidAt },
  };
}

export function buildPortalSession(input: {
  id: string;
  created: number;
  customer: string;
  configuration: string;
  returnUrl: string | null;
  locale: Stripe.BillingPortal.Session.Locale | null;
  url: string;
}): Stripe.BillingPortal.Session {
  return {
    ...fromFixture("billing_portal.session"),
    id: input.id,
    object: "billing_portal.session",
    configuration: input.configuration,
    created: input.created,
    customer: input.customer,
    customer_account: null,
    flow: null,
    livemode: false,
    locale: input.locale,
    on_behalf_of: null,
    return_url: input.returnUrl,
    url: input.url,
  };
}
