/**
 * Stripe's webhook events: verified on the raw body, recorded by id, dispatched to the one
 * service that owns each reaction (fulfilment, clawbacks), processed once.
 */
import { eq, sql } from "drizzle-orm";
import type Stripe from "stripe";
import type { AppDb } from "#db/client.server";
import { stripeEvents } from "#db/schema";
import type { Config } from "../env.server";
import { logger } from "../logger.server";
import { incrementCounter } from "../metrics.server";
import { applyChargeRefunded, applyDisputeCreated } from "./clawbacks.server";
import { fulfillCheckout } from "./fulfilment.server";

export class WebhookSignatureError extends Error {}

/** Verifies the signature over the exact raw body (default tolerance: 5 minutes). */
export function verifyStripeEvent(stripe: Stripe, rawBody: string, signature: string | null, secret: string): Stripe.Event {
  if (!signature) throw new WebhookSignatureError("Missing Stripe-Signature header");
  try {
    return stripe.webhooks.constructEvent(rawBody, signature, secret);
  } catch (error) {
    throw new WebhookSignatureError(error instanceof Error ? error.message : "Invalid signature");
  }
}

export type HandledOutcome = "processed" | "duplicate" | "ignored";

const HANDLED = new Set([
  "checkout.session.completed",
  "checkout.session.async_payment_succeeded",
  "checkout.session.async_payment_failed",
  "charge.refunded",
  "charge.dispute.created",
]);

async function dispatch(db: AppDb, stripe: Stripe, config: Config, event: Stripe.Event): Promise<void> {
  switch (event.type) {
    case "checkout.session.completed":
    case "checkout.session.async_payment_succeeded": {
      const result = await fulfillCheckout(db, stripe, config, event.data.object.id);
      logger.info({ eventId: event.id, type: event.type, status: result.status, userId: result.userId }, "checkout fulfilment");
      return;
    }
    case "checkout.session.async_payment_failed":
      // Nothing was granted for an unpaid session, so there is nothing to take back.
      logger.info({ eventId: event.id, sessionId: event.data.object.id }, "delayed payment failed: no credits granted");
      return;
    case "charge.refunded": {
      const { clawedBack } = applyChargeRefunded(db, event.data.object);
      logger.info({ eventId: event.id, chargeId: event.data.object.id, clawedBack }, "refund applied");
      return;
    }
    case "charge.dispute.created": {
      const { clawedBack } = applyDisputeCreated(db, event.data.object);
      logger.warn({ eventId: event.id, disputeId: event.data.object.id, clawedBack }, "dispute: account on hold");
      return;
    }
    default:
      return;
  }
}

/**
 * Records the event id, processes it once, and remembers the outcome. A replay of a processed
 * event changes nothing; a failed one is processed again when Stripe retries (every handler is
 * idempotent through ledger keys, so a retry after a partial failure is safe too).
 */
export async function handleStripeEvent(db: AppDb, stripe: Stripe, config: Config, event: Stripe.Event): Promise<HandledOutcome> {
  const handled = HANDLED.has(event.type);
  // One statement records the delivery (a commit is an fsync: see decision 002). Event types we
  // do not handle are marked processed in that same statement.
  const now = Date.now();
  const row = db.orm
    .insert(stripeEvents)
    .values({ id: event.id, type: event.type, stripeCreated: event.created, attempts: 1, processedAt: handled ? null : now })
    .onConflictDoUpdate({ target: stripeEvents.id, set: { attempts: sql`${stripeEvents.attempts} + 1` } })
    .returning()
    .get();
  if (row.processedAt && row.attempts > 1) {
    incrementCounter("stripe_webhooks_total", { type: event.type, outcome: "duplicate" });
    return "duplicate";
  }
  if (!handled) {
    incrementCounter("stripe_webhooks_total", { type: event.type, outcome: "ignored" });
    return "ignored";
  }
  try {
    await dispatch(db, stripe, config, event);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    db.orm.update(stripeEvents).set({ error: message.slice(0, 1000) }).where(eq(stripeEvents.id, event.id)).run();
    incrementCounter("stripe_webhooks_total", { type: event.type, outcome: "error" });
    throw error;
  }
  db.orm
    .update(stripeEvents)
    .set({ processedAt: Date.now(), error: null })
    .where(eq(stripeEvents.id, event.id))
    .run();
  incrementCounter("stripe_webhooks_total", { type: event.type, outcome: "processed" });
  return "processed";
}
