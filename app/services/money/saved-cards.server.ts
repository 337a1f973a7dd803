/**
 * The card a user saved for auto-recharge (decision 027). Stripe is the source: a card is
 * recorded when Stripe says it is attached to the user's Customer (payment_method.attached, a
 * setup-mode Checkout completing), read back from the API, never from a payload or a form; it is
 * forgotten when Stripe says it was detached, or when the user removes it here (detach first).
 * On the executor (decision 036): one SQL text for SQLite and PostgreSQL.
 */
import { eq } from "drizzle-orm";
import type Stripe from "stripe";
import type { AppDb, PortableDb } from "#db/client.server";
import { savedCards, type SavedCard } from "#db/schema";
import { stripeIdOf } from "~/utils/stripe-ids";
import { inWrite, readerOf, type SqlTarget } from "../sql-target.server";

export type SavedCardView = { paymentMethodId: string; brand: string; last4: string };

const CARD_COLUMNS = `user_id AS "userId", payment_method_id AS "paymentMethodId", brand, last4, created_at AS "createdAt"`;

/** The user's saved card (a write body's `tx` reads its own rows; otherwise committed rows). */
export async function readSavedCard(target: SqlTarget, userId: number): Promise<SavedCard | undefined> {
  return readerOf(target).get<SavedCard>(`SELECT ${CARD_COLUMNS} FROM saved_cards WHERE user_id = ?`, [userId]);
}

/**
 * Seam (decision 036): the synchronous SQLite read, for auto-recharge-settings.server.ts, whose
 * view and save are still synchronous (its owner ports it). Use `readSavedCard` everywhere else.
 */
export function getSavedCard(db: AppDb, userId: number): SavedCard | undefined {
  return db.orm.select().from(savedCards).where(eq(savedCards.userId, userId)).get();
}

/** The user whose Stripe Customer this is, or null (another product's customer). */
export async function userOfCustomer(target: SqlTarget, customerId: string | null): Promise<number | null> {
  if (!customerId) return null;
  const row = await readerOf(target).get<{ id: number }>("SELECT id FROM users WHERE stripe_customer_id = ?", [customerId]);
  return row?.id ?? null;
}

/** Records a card Stripe has attached to one of the app's customers (the newest replaces the
 * one before: it is the card the user just chose). Pass the webhook's write body `tx`. */
export async function recordAttachedCard(target: SqlTarget, pm: Stripe.PaymentMethod, now = Date.now()): Promise<{ userId: number | null; saved: boolean }> {
  return inWrite(target, async (tx) => {
    const userId = await userOfCustomer(tx, stripeIdOf(pm.customer));
    if (userId === null || pm.type !== "card" || !pm.card) return { userId, saved: false };
    await tx.run(
      `INSERT INTO saved_cards (user_id, payment_method_id, brand, last4, created_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (user_id) DO UPDATE SET payment_method_id = excluded.payment_method_id, brand = excluded.brand,
         last4 = excluded.last4, created_at = excluded.created_at`,
      [userId, pm.id, pm.card.brand, pm.card.last4, now],
    );
    return { userId, saved: true };
  });
}

/** Forgets a card Stripe no longer has attached (only that card: a newer one stays). */
export async function forgetDetachedCard(target: SqlTarget, paymentMethodId: string): Promise<boolean> {
  const { changes } = await inWrite(target, (tx) => tx.run("DELETE FROM saved_cards WHERE payment_method_id = ?", [paymentMethodId]));
  return changes > 0;
}

/** The user's "Remove card": detached at Stripe (a card already gone there is fine), then
 * forgotten here (that card only: one saved meanwhile stays). Nothing saved: false. */
export async function removeSavedCard(db: PortableDb, stripe: Stripe, userId: number): Promise<boolean> {
  const card = await readSavedCard(db, userId);
  if (!card) return false;
  try {
    await stripe.paymentMethods.detach(card.paymentMethodId);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code !== "payment_method_not_attached" && code !== "resource_missing") throw error;
  }
  await db.sql.run("DELETE FROM saved_cards WHERE user_id = ? AND payment_method_id = ?", [userId, card.paymentMethodId]);
  return true;
}
