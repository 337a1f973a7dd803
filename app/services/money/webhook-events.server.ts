/**
 * Stripe's webhook events: verified on the raw body, then processed once. An event is read,
 * planned (webhook-reactions.server.ts: whatever must be fetched from Stripe) and then applied
 * in ONE transaction with the record that says it was processed, so an event and its
 * ledger effect commit together: a redelivery, or a second event about the same object, is a
 * replay that answers 200, never a half-applied state or an error. On the executor (decision
 * 036): one SQL text for SQLite and PostgreSQL; parallel deliveries of one event queue on its row
 * (the upsert takes its lock on PostgreSQL; SQLite's writes are serial), so one applies it.
 */
import type Stripe from "stripe";
import type { PortableDb } from "#db/client.server";
import type { SqlRunner } from "#db/sql.server";
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

// Counts a delivery and answers the row as it is now: on PostgreSQL ON CONFLICT DO UPDATE waits
// for a concurrent delivery's transaction and then sees its committed processed_at.
const RECORD_DELIVERY = `INSERT INTO stripe_events (id, type, stripe_created, attempts, error) VALUES (@id, @type, @created, 1, @error)
  ON CONFLICT (id) DO UPDATE SET attempts = stripe_events.attempts + 1, error = coalesce(excluded.error, stripe_events.error)
  RETURNING processed_at AS "processedAt"`;

function recordDelivery(tx: SqlRunner, event: Stripe.Event, error: string | null = null): Promise<{ processedAt: number | null } | undefined> {
  return tx.get<{ processedAt: number | null }>(RECORD_DELIVERY, { id: event.id, type: event.type, created: event.created, error });
}

async function alreadyProcessed(db: PortableDb, eventId: string): Promise<boolean> {
  const row = await db.sql.get<{ processedAt: number | null }>(`SELECT processed_at AS "processedAt" FROM stripe_events WHERE id = ?`, [eventId]);
  return Boolean(row?.processedAt);
}

/** The delivery record, the reaction and the processed mark: one transaction. Logged once it has
 * committed (on PostgreSQL a body may run again after a serialization failure). */
async function commit(db: PortableDb, event: Stripe.Event, plan: Plan): Promise<HandledOutcome> {
  const done = await db.sql.write(async (tx): Promise<{ outcome: HandledOutcome; fields?: Record<string, unknown> }> => {
    const row = await recordDelivery(tx, event);
    // A concurrent delivery of the same event got here first.
    if (row?.processedAt) return { outcome: "duplicate" };
    const fields = plan.kind === "apply" ? await plan.apply(tx) : { why: plan.why };
    const outcome = plan.kind === "apply" ? "processed" : "ignored";
    await tx.run("UPDATE stripe_events SET processed_at = ?, outcome = ?, error = NULL WHERE id = ?", [Date.now(), outcome, event.id]);
    return { outcome, fields };
  });
  if (done.fields) logger.info({ eventId: event.id, type: event.type, outcome: done.outcome, ...done.fields }, "stripe event");
  return done.outcome;
}

/**
 * Processes an event once and remembers the outcome. A replay of a processed event changes
 * nothing; a failed one changes nothing either (its transaction rolled back), records the error,
 * and is processed again when Stripe retries.
 */
export async function handleStripeEvent(db: PortableDb, stripe: Stripe, config: Config, event: Stripe.Event): Promise<HandledOutcome> {
  if (await alreadyProcessed(db, event.id)) {
    await db.sql.write((tx) => recordDelivery(tx, event));
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
    await db.sql.write((tx) => recordDelivery(tx, event, message.slice(0, 1000)));
    counted(event, "error");
    throw error;
  }
}
