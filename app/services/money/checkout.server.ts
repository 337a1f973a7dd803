/**
 * Starting a purchase: the Stripe Customer of a user and the Checkout Session for a pack. Nothing
 * here grants credits; fulfilment.server.ts does, once Stripe says the session is paid.
 */
import { and, eq, isNull } from "drizzle-orm";
import type Stripe from "stripe";
import type { AppDb } from "#db/client.server";
import { users, type User } from "#db/schema";
import type { Config } from "../env.server";
import { recordCheckoutStarted } from "./checkout-attempts.server";
import { stripeRequestKeys } from "./ledger-keys.server";
import { appPaymentMetadata } from "./ownership.server";
import { checkoutMetadata, findPack } from "./pricing.server";
import { promotionCodeOptions } from "./promotion-codes.server";

/** Reuses the user's Stripe Customer or creates one (idempotently) and remembers it. */
export async function ensureStripeCustomer(db: AppDb, stripe: Stripe, user: User): Promise<string> {
  if (user.stripeCustomerId) return user.stripeCustomerId;
  const customer = await stripe.customers.create(
    { email: user.email, metadata: { userId: String(user.id) } },
    { idempotencyKey: stripeRequestKeys.customerForUser(user.id) },
  );
  // Only the first writer wins; a racing request reads the saved id back.
  db.orm
    .update(users)
    .set({ stripeCustomerId: customer.id, updatedAt: Date.now() })
    .where(and(eq(users.id, user.id), isNull(users.stripeCustomerId)))
    .run();
  const saved = db.orm.select({ id: users.stripeCustomerId }).from(users).where(eq(users.id, user.id)).get();
  return saved?.id ?? customer.id;
}

export type CheckoutStarted = { ok: true; id: string; url: string };
export type CheckoutRefusal =
  | { ok: false; reason: "unknown_pack"; message: string }
  | { ok: false; reason: "account_flagged"; message: string };

/**
 * Creates a Checkout Session for a pack. `requestToken` (a random token rendered in the form)
 * makes a double-submitted form return the same session instead of a second one. An unknown pack
 * or an account on hold is refused before Stripe is called.
 */
export async function createCheckoutSession(
  db: AppDb,
  stripe: Stripe,
  config: Config,
  input: { user: User; packId: string; requestToken?: string },
): Promise<CheckoutStarted | CheckoutRefusal> {
  const pack = findPack(config, input.packId);
  if (!pack) return { ok: false, reason: "unknown_pack", message: `Unknown pack "${input.packId}".` };
  if (input.user.flaggedAt) {
    return { ok: false, reason: "account_flagged", message: "This account is on hold because of a disputed payment. Contact support." };
  }
  const customer = await ensureStripeCustomer(db, stripe, input.user);
  const token = input.requestToken ?? `minute-${Math.floor(Date.now() / 60_000)}`;
  const session = await stripe.checkout.sessions.create(
    {
      mode: "payment",
      customer,
      client_reference_id: String(input.user.id),
      line_items: [{ price: pack.priceId, quantity: 1 }],
      metadata: checkoutMetadata(input.user.id, pack),
      payment_intent_data: { metadata: appPaymentMetadata(input.user.id, pack.id) },
      success_url: `${config.appUrl}/settings/billing/success?session_id={CHECKOUT_SESSION_ID}`,
      cancel_url: `${config.appUrl}/settings/billing/cancelled`,
      ...promotionCodeOptions(config),
    },
    { idempotencyKey: stripeRequestKeys.checkoutSession(input.user.id, pack.id, token) },
  );
  if (!session.url) throw new Error(`Stripe returned Checkout Session ${session.id} without a URL`);
  recordCheckoutStarted(db, {
    sessionId: session.id,
    userId: input.user.id,
    pack: pack.id,
    credits: pack.credits,
    amountTotal: session.amount_total,
    currency: session.currency,
  });
  return { ok: true, id: session.id, url: session.url };
}
