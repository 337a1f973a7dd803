import type { ActionFunctionArgs } from "@remix-run/node";
import { json } from "@remix-run/node";
import { getRuntime } from "~/services/runtime.server";
import { getStripeContext } from "~/services/stripe.server";
import { handleStripeEvent, verifyStripeEvent, WebhookSignatureError } from "~/services/money/webhook-events.server";
import { logger } from "~/services/logger.server";

// Stripe → app. The raw body is verified before anything is parsed; 400 changes nothing, 500
// makes Stripe retry (and is recorded on the event), 200 acknowledges (also for replays and for
// event types we do not handle).
export async function action({ request }: ActionFunctionArgs) {
  if (request.method !== "POST") return json({ error: "method_not_allowed" }, { status: 405 });
  const { db, config } = getRuntime();
  const { stripe, webhookSecret } = getStripeContext();
  const rawBody = await request.text();
  let event;
  try {
    event = verifyStripeEvent(stripe, rawBody, request.headers.get("stripe-signature"), webhookSecret);
  } catch (error) {
    if (error instanceof WebhookSignatureError) {
      logger.warn({ reason: error.message }, "rejected a Stripe webhook");
      return json({ error: "invalid_signature", message: error.message }, { status: 400 });
    }
    throw error;
  }
  try {
    const outcome = await handleStripeEvent(db, stripe, config, event);
    return json({ received: true, outcome });
  } catch (error) {
    logger.error({ err: error, eventId: event.id, type: event.type }, "Stripe webhook handler failed");
    return json({ error: "handler_failed", eventId: event.id }, { status: 500 });
  }
}

export async function loader() {
  return json({ error: "method_not_allowed", message: "POST signed Stripe events here." }, { status: 405 });
}
