import type Stripe from "stripe";
import { fromFixture } from "./objects.server";

/**
 * Builders for Billing's objects: Subscriptions (with their items and the legacy `plan` each item
 * still carries) and Customer Portal sessions (invoices: invoice-objects.server.ts). Like
 * objects.server.ts: Stripe's example object (fixtures/stripe-fixtures.json), overridden where it
 * matters, typed with the SDK's types.
 *
 * In this API version the service period lives on the subscription ITEM
 * (`items.data[].current_period_start/end`), an invoice names its subscription under
 * `parent.subscription_details`, and a line names its price under `pricing.price_details`.
 */

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
