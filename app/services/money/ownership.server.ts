/**
 * Which Stripe payments are this app's. Another product may share the Stripe account, so a
 * refund or dispute can be about a payment the app never sold: those are acknowledged and left
 * alone. A payment is ours when its PaymentIntent carries the metadata set at checkout.
 */
import type Stripe from "stripe";

const APP_MARKER = { app: "credits" } as const;

/** The PaymentIntent metadata every checkout of the app sets. */
export function appPaymentMetadata(userId: number, packId: string): Record<string, string> {
  return { ...APP_MARKER, userId: String(userId), pack: packId };
}

/** True for a PaymentIntent the app created through Checkout (the marker, or, for payments taken
 * before the marker existed, the user and pack the app has always set). */
export function isAppPayment(intent: Pick<Stripe.PaymentIntent, "metadata">): boolean {
  const m = intent.metadata ?? {};
  if (m.app === APP_MARKER.app) return true;
  return typeof m.userId === "string" && /^\d+$/.test(m.userId) && typeof m.pack === "string" && m.pack.length > 0;
}
