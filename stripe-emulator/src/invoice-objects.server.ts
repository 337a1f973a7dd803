import type Stripe from "stripe";
import type { Period } from "./billing-objects.server";
import { fromFixture } from "./objects.server";

/**
 * Builders for Invoices, their lines and their InvoicePayments (see billing-objects.server.ts). In
 * this API version an invoice names its subscription under `parent.subscription_details`, a line
 * its price under `pricing.price_details` and its item under `parent.subscription_item_details`.
 */

type WireDecimal = NonNullable<Stripe.Price["unit_amount_decimal"]>;
const decimal = (value: number): WireDecimal => String(value) as unknown as WireDecimal;

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
