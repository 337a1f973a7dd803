import type Stripe from "stripe";
import type { Scheduler } from "./activity.server";
import { resourceMissing } from "./errors.server";
import { newId } from "./ids.server";
import { buildEvent, type EventObject, type EventType } from "./objects.server";
import type { EmulatorStore, StoredObjects, StoredObjectType } from "./store.server";
import type { WebhookDispatcher } from "./webhooks.server";

/**
 * What every part of the emulated account shares: the store, the clock, and the two ways a change
 * becomes visible (an event recorded for delivery, an object looked up by id). Each resource's
 * module (checkout, payments, refunds, disputes) builds on this.
 */

/** Who caused a change: an API request (its id and idempotency key) or the customer on a page. */
export type RequestContext = { requestId: string | null; idempotencyKey: string | null };
export const CUSTOMER_ACTION: RequestContext = { requestId: null, idempotencyKey: null };

export type AccountDeps = {
  store: EmulatorStore;
  dispatcher: WebhookDispatcher;
  scheduler: Scheduler;
  publicUrl: string;
  asyncPaymentDelayMs: number;
  now: () => number;
  log: (msg: string, fields?: Record<string, unknown>) => void;
};

/** Names used in "No such ..." errors, as Stripe words them. */
const OBJECT_NAMES: Record<StoredObjectType, string> = {
  customer: "customer",
  price: "price",
  product: "product",
  "checkout.session": "checkout.session",
  item: "line item",
  payment_intent: "payment_intent",
  payment_method: "PaymentMethod",
  setup_intent: "setupintent",
  charge: "charge",
  refund: "refund",
  dispute: "dispute",
  subscription: "subscription",
  invoice: "invoice",
  invoice_payment: "invoice_payment",
  "billing_portal.session": "billing_portal.session",
};

export type AccountCore = ReturnType<typeof createAccountCore>;

export function createAccountCore(deps: AccountDeps) {
  const { store, dispatcher } = deps;
  const nowSeconds = () => Math.floor(deps.now() / 1000);

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

  return { ...deps, nowSeconds, emit, retrieve, lookup };
}

export function idOf(value: string | { id: string } | null): string | null {
  return typeof value === "string" || value === null ? value : value.id;
}

/** Stripe's own metadata rule: a key set to "" is removed. */
export function mergeMetadata(before: Stripe.Metadata, update: Stripe.Metadata | undefined): Stripe.Metadata {
  if (!update) return before;
  const merged = { ...before };
  for (const [key, value] of Object.entries(update)) {
    if (value === "") delete merged[key];
    else merged[key] = value;
  }
  return merged;
}
