import type Stripe from "stripe";
import { CUSTOMER_ACTION, idOf, mergeMetadata, type AccountCore, type RequestContext } from "./account-core.server";
import { buildPlan, buildSubscription, buildSubscriptionItem, periodEnd } from "./billing-objects.server";
import type { RenewalOutcome, SubscriptionListParams, SubscriptionUpdateParams } from "./billing-params.server";
import { invalidRequest } from "./errors.server";
import { newId } from "./ids.server";
import type { Invoices } from "./invoices.server";

/**
 * Subscriptions: one item (one recurring price), charged automatically to the card the customer
 * paid the first invoice with. Created by paying a Checkout Session in `subscription` mode,
 * changed by the API (`cancel_at_period_end`, the item's price) or the Customer Portal, canceled
 * now by the API, and moved to their next period by the test driver (the emulator's clock does
 * not move; only the subscription's periods do). The emulator never prorates.
 */

export function createSubscriptions(core: AccountCore, invoices: Invoices) {
  const { store, emit, retrieve, lookup, nowSeconds } = core;

  function customerOf(subscription: Stripe.Subscription): Stripe.Customer {
    return retrieve("customer", idOf(subscription.customer) ?? "");
  }

  /** Inside the completion of a Checkout Session: the subscription and its first invoice, paid. */
  function startSubscription(input: {
    customer: Stripe.Customer;
    price: Stripe.Price;
    quantity: number;
    metadata: Stripe.Metadata;
    description: string | null;
  }): { subscription: Stripe.Subscription; invoice: Stripe.Invoice } {
    const { price } = input;
    if (!price.recurring) throw new Error(`price ${price.id} is not recurring`);
    const created = nowSeconds();
    const id = newId.subscription();
    const invoiceId = newId.invoice();
    const item = buildSubscriptionItem({
      id: newId.subscriptionItem(),
      created,
      subscription: id,
      price,
      quantity: input.quantity,
      period: { start: created, end: periodEnd(created, price.recurring) },
    });
    const subscription = buildSubscription({
      id,
      created,
      customer: input.customer.id,
      currency: price.currency,
      item,
      defaultPaymentMethod: newId.paymentMethod(),
      description: input.description,
      metadata: input.metadata,
      latestInvoice: invoiceId,
    });
    store.putObject(subscription, input.customer.id);
    emit("customer.subscription.created", subscription, CUSTOMER_ACTION);
    const invoice = invoices.issueInvoice({
      id: invoiceId,
      subscription,
      customer: input.customer,
      billingReason: "subscription_create",
      // A first invoice's own period is a point in time; the line's period is the service period.
      period: { start: created, end: created },
      outcome: "paid",
    });
    return { subscription, invoice };
  }

  function listSubscriptions(params: SubscriptionListParams): Stripe.Subscription[] {
    const all = params.customer ? store.listChildren("subscription", params.customer) : store.listObjects("subscription");
    return all.filter((subscription) => {
      if (params.price && subscription.items.data[0]?.price.id !== params.price) return false;
      const status = params.status ?? "not_canceled";
      if (status === "all") return true;
      if (status === "not_canceled") return subscription.status !== "canceled";
      if (status === "ended") return subscription.status === "canceled";
      return subscription.status === status;
    });
  }

  function save(subscription: Stripe.Subscription): void {
    store.putObject(subscription, idOf(subscription.customer));
  }

  function updateSubscription(id: string, params: SubscriptionUpdateParams, context: RequestContext): Stripe.Subscription {
    return store.transaction(() => {
      const before = retrieve("subscription", id);
      if (before.status === "canceled") {
        throw invalidRequest("A canceled subscription can only update its cancellation_details and metadata.", {
          code: "invalid_canceled_subscription_fields",
        });
      }
      let after: Stripe.Subscription = { ...before, metadata: mergeMetadata(before.metadata, params.metadata) };
      if (params.cancel_at_period_end !== undefined && params.cancel_at_period_end !== before.cancel_at_period_end) {
        const cancel = params.cancel_at_period_end;
        after = {
          ...after,
          cancel_at_period_end: cancel,
          cancel_at: cancel ? before.items.data[0].current_period_end : null,
          canceled_at: cancel ? nowSeconds() : null,
          cancellation_details: { comment: null, feedback: null, feedback_option: null, reason: cancel ? "cancellation_requested" : null },
        };
      }
      const change = params.items?.[0];
      if (change) after = { ...after, items: { ...after.items, data: [changeItem(after, change)] } };
      const previous: Record<string, unknown> = {};
      for (const key of ["cancel_at_period_end", "cancel_at", "canceled_at", "cancellation_details", "items", "metadata"] as const) {
        if (JSON.stringify(before[key]) !== JSON.stringify(after[key])) previous[key] = before[key];
      }
      if (Object.keys(previous).length > 0) {
        save(after);
        emit("customer.subscription.updated", after, context, previous);
      }
      return after;
    });
  }

  /** The one item with a new price (same currency and interval) or quantity; no proration. */
  function changeItem(
    subscription: Stripe.Subscription,
    change: NonNullable<SubscriptionUpdateParams["items"]>[number],
  ): Stripe.SubscriptionItem {
    const item = subscription.items.data[0];
    if (change.id !== item.id) {
      throw invalidRequest(`No such subscription item: '${change.id}' on subscription ${subscription.id}`, {
        param: "items[0][id]",
        code: "resource_missing",
      });
    }
    const price = change.price ? lookup("price", change.price, "items[0][price]") : item.price;
    if (!price.recurring || !price.active) {
      throw invalidRequest(`The price specified (${price.id}) is not an active recurring price.`, { param: "items[0][price]" });
    }
    if (price.currency !== subscription.currency) {
      throw invalidRequest(`The price's currency (${price.currency}) must match the subscription's (${subscription.currency}).`, {
        param: "items[0][price]",
      });
    }
    const before = item.price.recurring;
    if (before && (price.recurring.interval !== before.interval || price.recurring.interval_count !== before.interval_count)) {
      throw invalidRequest(
        "The Stripe emulator changes a subscription's price only to one with the same billing interval (it does not move billing cycles).",
        { param: "items[0][price]" },
      );
    }
    return { ...item, price, plan: buildPlan(price), quantity: change.quantity ?? item.quantity };
  }

  /** Cancels now (DELETE /v1/subscriptions/:id). */
  function cancelSubscription(id: string, context: RequestContext): Stripe.Subscription {
    return store.transaction(() => {
      const subscription = retrieve("subscription", id);
      if (subscription.status === "canceled") {
        throw invalidRequest(`The subscription ${id} has already been canceled.`, { code: "resource_missing", status: 404 });
      }
      const now = nowSeconds();
      const canceled: Stripe.Subscription = {
        ...subscription,
        status: "canceled",
        canceled_at: now,
        ended_at: now,
        cancellation_details: { comment: null, feedback: null, feedback_option: null, reason: "cancellation_requested" },
      };
      save(canceled);
      emit("customer.subscription.deleted", canceled, context);
      return canceled;
    });
  }

  /**
   * Test driver: the subscription's current period ends. Either it ends with it
   * (`cancel_at_period_end`: `customer.subscription.deleted`, no invoice) or it renews:
   * `customer.subscription.updated` (the item's new period, `latest_invoice`), the cycle's invoice
   * (invoices.server.ts), and when the payment fails, `customer.subscription.updated` again
   * (`past_due`); a past_due subscription whose renewal is paid becomes `active` again.
   */
  function advanceSubscription(
    id: string,
    outcome: RenewalOutcome,
  ): { subscription: Stripe.Subscription; invoice: Stripe.Invoice | null } {
    return store.transaction(() => {
      const subscription = retrieve("subscription", id);
      if (subscription.status === "canceled") {
        throw invalidRequest(`Subscription ${id} is canceled; it has no next period.`, { code: "subscription_canceled" });
      }
      const item = subscription.items.data[0];
      if (subscription.cancel_at_period_end) {
        const ended: Stripe.Subscription = { ...subscription, status: "canceled", ended_at: item.current_period_end };
        save(ended);
        emit("customer.subscription.deleted", ended, CUSTOMER_ACTION);
        return { subscription: ended, invoice: null };
      }
      const recurring = item.price.recurring;
      if (!recurring) throw new Error(`subscription ${id} has a price that is not recurring`);
      const previousPeriod = { start: item.current_period_start, end: item.current_period_end };
      const start = previousPeriod.end;
      const invoiceId = newId.invoice();
      const renewed: Stripe.Subscription = {
        ...subscription,
        latest_invoice: invoiceId,
        items: {
          ...subscription.items,
          data: [{ ...item, current_period_start: start, current_period_end: periodEnd(start, recurring) }],
        },
      };
      save(renewed);
      emit("customer.subscription.updated", renewed, CUSTOMER_ACTION, {
        items: subscription.items,
        latest_invoice: subscription.latest_invoice,
      });
      const invoice = invoices.issueInvoice({
        id: invoiceId,
        subscription: renewed,
        customer: customerOf(renewed),
        billingReason: "subscription_cycle",
        period: previousPeriod,
        outcome,
      });
      const status = outcome === "paid" ? "active" : "past_due";
      if (status === renewed.status) return { subscription: renewed, invoice };
      const changed: Stripe.Subscription = { ...renewed, status };
      save(changed);
      emit("customer.subscription.updated", changed, CUSTOMER_ACTION, { status: renewed.status });
      return { subscription: changed, invoice };
    });
  }

  return { startSubscription, listSubscriptions, updateSubscription, cancelSubscription, advanceSubscription };
}
