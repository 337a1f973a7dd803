import type Stripe from "stripe";
import { CUSTOMER_ACTION, type AccountCore } from "./account-core.server";
import type { Period } from "./billing-objects.server";
import { buildInvoice, buildInvoiceLine, buildInvoicePayment } from "./invoice-objects.server";
import { newId } from "./ids.server";
import { formatAmount } from "./money.server";
import { recordPayment } from "./payments.server";

/**
 * A subscription's invoices: issued, finalized and charged at once to the subscription's saved
 * card, as Stripe does for `collection_method=charge_automatically`. Each invoice is paid by one
 * PaymentIntent (and its Charge), linked back through an InvoicePayment (`invoice.payments`,
 * `GET /v1/invoice_payments?payment[payment_intent]=…`): in this API version neither the
 * PaymentIntent nor the Charge names the invoice. Refunds and disputes of that charge go through
 * the ordinary refund and dispute paths.
 *
 * Events, in this order (all in one transaction):
 *   invoice.created (draft), invoice.finalized (open),
 *   paid:   charge.succeeded, payment_intent.succeeded, invoice_payment.paid,
 *           invoice.paid, invoice.payment_succeeded
 *   failed: charge.failed, payment_intent.payment_failed, invoice.payment_failed (stays open)
 */

export type InvoiceOutcome = "paid" | "payment_failed";

const DECLINE_MESSAGE = "Your card was declined.";

export function createInvoices(core: AccountCore) {
  const { store, emit, nowSeconds } = core;

  /** Issues and charges the invoice of one period of `subscription` (stored; the caller emits its own events). */
  function issueInvoice(input: {
    /** An id given out before the invoice exists (a subscription's `latest_invoice` names it first). */
    id?: string;
    subscription: Stripe.Subscription;
    customer: Stripe.Customer;
    billingReason: "subscription_create" | "subscription_cycle";
    /** The invoice's own period: for a first invoice a point in time, for a renewal the period just ended. */
    period: Period;
    outcome: InvoiceOutcome;
  }): Stripe.Invoice {
    const { subscription, customer } = input;
    const created = nowSeconds();
    const id = input.id ?? newId.invoice();
    const item = subscription.items.data[0];
    const product = store.getObject("product", typeof item.price.product === "string" ? item.price.product : item.price.product.id);
    const recurring = item.price.recurring;
    const every = recurring && recurring.interval_count > 1 ? `${recurring.interval_count} ${recurring.interval}s` : recurring?.interval;
    const line = buildInvoiceLine({
      id: newId.invoiceLine(),
      invoice: id,
      subscription: subscription.id,
      item,
      description: `${item.quantity ?? 1} × ${product?.name ?? item.price.id} (at ${formatAmount(item.price.unit_amount ?? 0, item.price.currency)} / ${every ?? "period"})`,
    });
    const sequence = store.listObjects("invoice").filter((invoice) => invoice.customer === customer.id).length + 1;
    const draft = buildInvoice({
      id,
      created,
      number: `${customer.invoice_prefix ?? "EMU"}-${String(sequence).padStart(4, "0")}`,
      customer,
      subscription,
      billingReason: input.billingReason,
      period: input.period,
      line,
    });
    store.putObject(draft, subscription.id);
    emit("invoice.created", draft, CUSTOMER_ACTION);

    const finalized: Stripe.Invoice = {
      ...draft,
      status: "open",
      effective_at: created,
      status_transitions: { ...draft.status_transitions, finalized_at: created },
    };
    store.putObject(finalized, subscription.id);
    emit("invoice.finalized", finalized, CUSTOMER_ACTION);

    const { charge, paymentIntent } = recordPayment(core, {
      amount: finalized.amount_due,
      currency: finalized.currency,
      customer,
      email: customer.email,
      description: input.billingReason === "subscription_create" ? "Subscription creation" : "Subscription update",
      metadata: {},
      kind: "card",
      settled: true,
      paymentMethod: typeof subscription.default_payment_method === "string" ? subscription.default_payment_method : undefined,
    });
    const paid = input.outcome === "paid";
    const payment = buildInvoicePayment({
      id: newId.invoicePayment(),
      created,
      invoice: finalized,
      paymentIntent: paymentIntent.id,
      paidAt: paid ? created : null,
    });
    store.putObject(payment, finalized.id);

    if (paid) {
      emit("charge.succeeded", charge, CUSTOMER_ACTION);
      emit("payment_intent.succeeded", paymentIntent, CUSTOMER_ACTION);
      emit("invoice_payment.paid", payment, CUSTOMER_ACTION);
      const paidInvoice: Stripe.Invoice = {
        ...finalized,
        status: "paid",
        amount_paid: finalized.amount_due,
        amount_remaining: 0,
        attempt_count: 1,
        attempted: true,
        auto_advance: false,
        status_transitions: { ...finalized.status_transitions, paid_at: created },
      };
      store.putObject(paidInvoice, subscription.id);
      emit("invoice.paid", paidInvoice, CUSTOMER_ACTION);
      emit("invoice.payment_succeeded", paidInvoice, CUSTOMER_ACTION);
      return paidInvoice;
    }

    const failedCharge: Stripe.Charge = {
      ...charge,
      status: "failed",
      paid: false,
      captured: false,
      amount_captured: 0,
      failure_code: "card_declined",
      failure_message: DECLINE_MESSAGE,
      outcome: charge.outcome && {
        ...charge.outcome,
        network_status: "declined_by_network",
        reason: "generic_decline",
        seller_message: "The bank did not return any further details with this decline.",
        type: "issuer_declined",
      },
    };
    const failedIntent: Stripe.PaymentIntent = {
      ...paymentIntent,
      status: "requires_payment_method",
      amount_received: 0,
      last_payment_error: {
        type: "card_error",
        code: "card_declined",
        decline_code: "generic_decline",
        charge: charge.id,
        message: DECLINE_MESSAGE,
        payment_method_type: "card",
      },
    };
    store.putObject(failedCharge, failedIntent.id);
    store.putObject(failedIntent);
    emit("charge.failed", failedCharge, CUSTOMER_ACTION);
    emit("payment_intent.payment_failed", failedIntent, CUSTOMER_ACTION);
    const unpaid: Stripe.Invoice = { ...finalized, attempt_count: 1, attempted: true };
    store.putObject(unpaid, subscription.id);
    emit("invoice.payment_failed", unpaid, CUSTOMER_ACTION);
    return unpaid;
  }

  /** A subscription's invoices, oldest first. */
  function listInvoices(filter: { subscription?: string; customer?: string; status?: string }): Stripe.Invoice[] {
    const all = filter.subscription ? store.listChildren("invoice", filter.subscription) : store.listObjects("invoice");
    return all.filter(
      (invoice) => (!filter.customer || invoice.customer === filter.customer) && (!filter.status || invoice.status === filter.status),
    );
  }

  function listInvoicePayments(filter: { invoice?: string; paymentIntent?: string }): Stripe.InvoicePayment[] {
    const all = filter.invoice ? store.listChildren("invoice_payment", filter.invoice) : store.listObjects("invoice_payment");
    return all.filter((payment) => !filter.paymentIntent || payment.payment.payment_intent === filter.paymentIntent);
  }

  return { issueInvoice, listInvoices, listInvoicePayments };
}

export type Invoices = ReturnType<typeof createInvoices>;
