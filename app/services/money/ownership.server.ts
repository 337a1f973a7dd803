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

/** The metadata of a plan's Checkout Session and of the subscription it creates: every invoice
 * of the subscription carries it (`parent.subscription_details.metadata`). */
export function appSubscriptionMetadata(userId: number, planId: string): Record<string, string> {
  return { ...APP_MARKER, userId: String(userId), plan: planId };
}

/** The user a subscription's metadata names, when the subscription is the app's (its marker and
 * a user id); null for another product's subscription. */
export function appSubscriptionUser(metadata: Stripe.Metadata | null | undefined): number | null {
  const m = metadata ?? {};
  if (m.app !== APP_MARKER.app || typeof m.userId !== "string" || !/^[1-9]\d{0,15}$/.test(m.userId)) return null;
  const id = Number(m.userId);
  return Number.isSafeInteger(id) ? id : null;
}

/** True for a PaymentIntent the app created through Checkout (the marker, or, for payments taken
 * before the marker existed, the user and pack the app has always set). */
export function isAppPayment(intent: Pick<Stripe.PaymentIntent, "metadata">): boolean {
  const m = intent.metadata ?? {};
  if (m.app === APP_MARKER.app) return true;
  return typeof m.userId === "string" && /^\d+$/.test(m.userId) && typeof m.pack === "string" && m.pack.length > 0;
}
