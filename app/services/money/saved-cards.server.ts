/**
 * The card a user saved for auto-recharge (decision 027). Stripe is the source: a card is
 * recorded when Stripe says it is attached to the user's Customer (payment_method.attached, a
 * setup-mode Checkout completing), read back from the API, never from a payload or a form; it is
 * forgotten when Stripe says it was detached, or when the user removes it here (detach first).
 */
import { and, eq } from "drizzle-orm";
import type Stripe from "stripe";
import type { AppDb } from "#db/client.server";
import { savedCards, users, type SavedCard } from "#db/schema";
import { stripeIdOf } from "~/utils/stripe-ids";

export type SavedCardView = { paymentMethodId: string; brand: string; last4: string };

export function getSavedCard(db: AppDb, userId: number): SavedCard | undefined {
  return db.orm.select().from(savedCards).where(eq(savedCards.userId, userId)).get();
}

/** The user whose Stripe Customer this is, or null (another product's customer). */
export function userOfCustomer(db: AppDb, customerId: string | null): number | null {
  if (!customerId) return null;
  const row = db.orm.select({ id: users.id }).from(users).where(eq(users.stripeCustomerId, customerId)).get();
  return row?.id ?? null;
}

/** Records a card Stripe has attached to one of the app's customers (the newest replaces the
 * one before: it is the card the user just chose). Synchronous, for a webhook's transaction. */
export function recordAttachedCard(db: AppDb, pm: Stripe.PaymentMethod): { userId: number | null; saved: boolean } {
  const userId = userOfCustomer(db, stripeIdOf(pm.customer));
  if (userId === null || pm.type !== "card" || !pm.card) return { userId, saved: false };
  const values = { paymentMethodId: pm.id, brand: pm.card.brand, last4: pm.card.last4 };
  db.orm
    .insert(savedCards)
    .values({ userId, ...values, createdAt: Date.now() })
    .onConflictDoUpdate({ target: savedCards.userId, set: { ...values, createdAt: Date.now() } })
    .run();
  return { userId, saved: true };
}

/** Forgets a card Stripe no longer has attached (only that card: a newer one stays). */
export function forgetDetachedCard(db: AppDb, paymentMethodId: string): boolean {
  return db.orm.delete(savedCards).where(eq(savedCards.paymentMethodId, paymentMethodId)).run().changes > 0;
}

/** The user's "Remove card": detached at Stripe (a card already gone there is fine), then
 * forgotten here. Nothing saved: false. */
export async function removeSavedCard(db: AppDb, stripe: Stripe, userId: number): Promise<boolean> {
  const card = getSavedCard(db, userId);
  if (!card) return false;
  try {
    await stripe.paymentMethods.detach(card.paymentMethodId);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code !== "payment_method_not_attached" && code !== "resource_missing") throw error;
  }
  db.orm.delete(savedCards).where(and(eq(savedCards.userId, userId), eq(savedCards.paymentMethodId, card.paymentMethodId))).run();
  return true;
}
