/**
 * Stripe's webhook events: verified on the raw body, then processed once. An event is read,
 * planned (webhook-reactions.server.ts: whatever must be fetched from Stripe) and then applied
 * in ONE transaction with the record that says it was processed, so an event and its
 * ledger effect commit together: a redelivery, or a second event about the same object, is a
 * replay that answers 200, never a half-applied state or an error.
 */
import { eq, sql } from "drizzle-orm";
import type Stripe from "stripe";
import type { AppDb } from "#db/client.server";
import { stripeEvents } from "#db/schema";
import type { Config } from "../env.server";
import { logger } from "../logger.server";
import { incrementCounter } from "../metrics.server";
import { HANDLED_EVENTS, planReaction, type Plan } from "./webhook-reactions.server";

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

const HANDLED: ReadonlySet<string> = new Set(HANDLED_EVENTS);

function counted(event: Stripe.Event, outcome: HandledOutcome | "error"): void {
  incrementCounter("stripe_webhooks_total", { type: event.type, outcome });
}

/** Counts a delivery; the row as it is now. */
function recordDelivery(db: AppDb, event: Stripe.Event, error: string | null = null) {
  return db.orm
    .insert(stripeEvents)
    .values({ id: event.id, type: event.type, stripeCreated: event.created, attempts: 1, error })
    .onConflictDoUpdate({ target: stripeEvents.id, set: { attempts: sql`${stripeEvents.attempts} + 1`, ...(error ? { error } : {}) } })
    .returning()
    .get();
}

function alreadyProcessed(db: AppDb, eventId: string): boolean {
  const row = db.orm.select({ processedAt: stripeEvents.processedAt }).from(stripeEvents).where(eq(stripeEvents.id, eventId)).get();
  return Boolean(row?.processedAt);
}

/** The delivery record, the reaction and the processed mark: one transaction. */
function commit(db: AppDb, event: Stripe.Event, plan: Plan): Promise<HandledOutcome> {
  // The record and the mark are still drizzle statements on the app's connection, which is the
  // write body's own on SQLite (decision 036), so they are inside this transaction.
  return db.sql.write(async (tx): Promise<HandledOutcome> => {
    const row = recordDelivery(db, event);
    // A concurrent delivery of the same event got here first.
    if (row.processedAt) return "duplicate";
    const fields = plan.kind === "apply" ? await plan.apply(tx) : { why: plan.why };
    const outcome = plan.kind === "apply" ? "processed" : "ignored";
    db.orm.update(stripeEvents).set({ processedAt: Date.now(), outcome, error: null }).where(eq(stripeEvents.id, event.id)).run();
    logger.info({ eventId: event.id, type: event.type, outcome, ...fields }, "stripe event");
    return outcome;
  });
}

/**
 * Processes an event once and remembers the outcome. A replay of a processed event changes
 * nothing; a failed one changes nothing either (its transaction rolled back), records the error,
 * and is processed again when Stripe retries.
 */
export async function handleStripeEvent(db: AppDb, stripe: Stripe, config: Config, event: Stripe.Event): Promise<HandledOutcome> {
  if (alreadyProcessed(db, event.id)) {
    recordDelivery(db, event);
    counted(event, "duplicate");
    return "duplicate";
  }
  try {
    const plan: Plan = HANDLED.has(event.type)
      ? await planReaction({ db, stripe, config }, event)
      : { kind: "ignore", why: `event type ${event.type} is not handled` };
    const outcome = await commit(db, event, plan);
    counted(event, outcome);
    return outcome;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    recordDelivery(db, event, message.slice(0, 1000));
    counted(event, "error");
    throw error;
  }
}
