/**
 * Starting a purchase: the Stripe Customer of a user and the Checkout Session for a pack (mode
 * `payment`) or a plan (mode `subscription`). Nothing here grants credits: fulfilment.server.ts
 * does once Stripe says a pack's session is paid, plan-invoices.server.ts for each paid invoice.
 * On the executor (decision 036); seam: a plan's checkout asks subscriptions.server.ts, which
 * still takes the SQLite AppDb.
 */
import type Stripe from "stripe";
import type { PortableDb } from "#db/client.server";
import type { User } from "#db/schema";
import type { Config } from "../env.server";
import { recordCheckoutStarted } from "./checkout-attempts.server";
import { stripeRequestKeys } from "./ledger-keys.server";
import { appPaymentMetadata, appSubscriptionMetadata, appSubscriptionUser } from "./ownership.server";
import { checkoutMetadata, findPack, findPlan } from "./pricing.server";
import { promotionCodeOptions } from "./promotion-codes.server";
import { hasLiveSubscription } from "./subscriptions.server";

/** Reuses the user's Stripe Customer or creates one (idempotently) and remembers it. */
export async function ensureStripeCustomer(db: PortableDb, stripe: Stripe, user: User): Promise<string> {
  if (user.stripeCustomerId) return user.stripeCustomerId;
  const customer = await stripe.customers.create(
    { email: user.email, metadata: { userId: String(user.id) } },
    { idempotencyKey: stripeRequestKeys.customerForUser(user.id) },
  );
  // Only the first writer wins (a guarded UPDATE); a racing request reads the saved id back.
  const saved = await db.sql.write(async (tx) => {
    await tx.run("UPDATE users SET stripe_customer_id = ?, updated_at = ? WHERE id = ? AND stripe_customer_id IS NULL", [customer.id, Date.now(), user.id]);
    return tx.get<{ id: string | null }>(`SELECT stripe_customer_id AS "id" FROM users WHERE id = ?`, [user.id]);
  });
  return saved?.id ?? customer.id;
}

export type CheckoutStarted = { ok: true; id: string; url: string };
export type CheckoutRefusal =
  | { ok: false; reason: "unknown_pack"; message: string }
  | { ok: false; reason: "account_flagged"; message: string };
export type PlanCheckoutRefusal =
  | { ok: false; reason: "unknown_plan"; message: string }
  | { ok: false; reason: "account_flagged"; message: string }
  | { ok: false; reason: "already_subscribed"; message: string };

const ACCOUNT_ON_HOLD = "This account is on hold because of a disputed payment. Contact support.";

/** A double-submitted form carries the same token; without one, requests in the same minute share. */
function formTokenOr(requestToken: string | undefined): string {
  return requestToken ?? `minute-${Math.floor(Date.now() / 60_000)}`;
}

/**
 * Creates a Checkout Session for a pack. `requestToken` (a random token rendered in the form)
 * makes a double-submitted form return the same session instead of a second one. An unknown pack
 * or an account on hold is refused before Stripe is called.
 */
export async function createCheckoutSession(
  db: PortableDb,
  stripe: Stripe,
  config: Config,
  input: { user: User; packId: string; requestToken?: string; savePaymentMethod?: boolean },
): Promise<CheckoutStarted | CheckoutRefusal> {
  const pack = findPack(config, input.packId);
  if (!pack) return { ok: false, reason: "unknown_pack", message: `Unknown pack "${input.packId}".` };
  if (input.user.flaggedAt) {
    return { ok: false, reason: "account_flagged", message: ACCOUNT_ON_HOLD };
  }
  const customer = await ensureStripeCustomer(db, stripe, input.user);
  const token = formTokenOr(input.requestToken);
  const session = await stripe.checkout.sessions.create(
    {
      mode: "payment",
      customer,
      client_reference_id: String(input.user.id),
      line_items: [{ price: pack.priceId, quantity: 1 }],
      metadata: checkoutMetadata(input.user.id, pack),
      payment_intent_data: {
        metadata: appPaymentMetadata(input.user.id, pack.id),
        // The buyer opted in: Stripe attaches the card for later off-session payments (auto-recharge).
        ...(input.savePaymentMethod ? { setup_future_usage: "off_session" as const } : {}),
      },
      ...promotionCodeOptions(config),
      success_url: `${config.appUrl}/settings/billing/success?session_id={CHECKOUT_SESSION_ID}`,
      cancel_url: `${config.appUrl}/settings/billing/cancelled`,
    },
    { idempotencyKey: stripeRequestKeys.checkoutSession(input.user.id, pack.id, input.savePaymentMethod ? `${token}-save` : token) },
  );
  if (!session.url) throw new Error(`Stripe returned Checkout Session ${session.id} without a URL`);
  await recordCheckoutStarted(db, {
    sessionId: session.id,
    userId: input.user.id,
    pack: pack.id,
    credits: pack.credits,
    amountTotal: session.amount_total,
    currency: session.currency,
  });
  return { ok: true, id: session.id, url: session.url };
}

/**
 * Creates a Checkout Session (mode `subscription`) for a plan. The user is on the session's
 * metadata and on the subscription's, where every invoice of it names them
 * (`parent.subscription_details.metadata`). A user whose subscription is active or past due
 * already is refused: they change plan in the Customer Portal, so a user never pays two plans.
 */
export async function createPlanCheckoutSession(
  db: PortableDb,
  stripe: Stripe,
  config: Config,
  input: { user: User; planId: string; requestToken?: string },
): Promise<CheckoutStarted | PlanCheckoutRefusal> {
  const plan = findPlan(config, input.planId);
  if (!plan) return { ok: false, reason: "unknown_plan", message: `Unknown plan "${input.planId}".` };
  if (input.user.flaggedAt) return { ok: false, reason: "account_flagged", message: ACCOUNT_ON_HOLD };
  const customer = await ensureStripeCustomer(db, stripe, input.user);
  if (await hasLiveSubscription(db, stripe, input.user.id, customer)) {
    return { ok: false, reason: "already_subscribed", message: "You already have a subscription: change your plan from Manage subscription." };
  }
  const metadata = appSubscriptionMetadata(input.user.id, plan.id);
  const session = await stripe.checkout.sessions.create(
    {
      mode: "subscription",
      customer,
      client_reference_id: String(input.user.id),
      line_items: [{ price: plan.priceId, quantity: 1 }],
      metadata,
      subscription_data: { metadata },
      ...promotionCodeOptions(config),
      // The success page grants the first period at once (the webhook may be late), as for packs.
      success_url: `${config.appUrl}/settings/billing/success?session_id={CHECKOUT_SESSION_ID}`,
      cancel_url: `${config.appUrl}/settings/billing/cancelled`,
    },
    { idempotencyKey: stripeRequestKeys.planCheckoutSession(input.user.id, plan.id, formTokenOr(input.requestToken)) },
  );
  if (!session.url) throw new Error(`Stripe returned Checkout Session ${session.id} without a URL`);
  await expireAllButOnePlanCheckout(stripe, customer);
  return { ok: true, id: session.id, url: session.url };
}

/**
 * Two tabs (or two clicks) can each open a plan Checkout before either is paid, and the
 * already_subscribed check cannot see a subscription that does not exist yet: both could be paid,
 * giving two subscriptions. So after opening one, every open plan Checkout of the customer but one
 * is expired at Stripe. The one kept is the newest, in the order Stripe lists them (newest first,
 * finer than `created`'s seconds), so requests racing each other all keep the same session and
 * exactly one stays payable; a click whose session lost lands on Stripe's "expired" page.
 */
async function expireAllButOnePlanCheckout(stripe: Stripe, customer: string): Promise<void> {
  const open = await stripe.checkout.sessions.list({ customer, status: "open", limit: 100 });
  const plans = open.data.filter((s) => s.mode === "subscription" && appSubscriptionUser(s.metadata) !== null);
  const keep = plans[0];
  for (const s of plans) {
    if (s.id === keep?.id) continue;
    try {
      await stripe.checkout.sessions.expire(s.id);
    } catch (error) {
      // Another request expired it first, or it was paid meanwhile: either way it is not open.
      if ((error as { type?: unknown }).type !== "StripeInvalidRequestError") throw error;
    }
  }
}

/**
 * A setup-mode Checkout Session: the user saves a card without paying (auto-recharge charges it
 * later). The card is recorded when Stripe's events say it is attached (saved-cards.server.ts).
 */
export async function createCardSetupSession(
  db: PortableDb,
  stripe: Stripe,
  config: Config,
  input: { user: User; requestToken?: string },
): Promise<CheckoutStarted | { ok: false; reason: "account_flagged"; message: string }> {
  if (input.user.flaggedAt) return { ok: false, reason: "account_flagged", message: ACCOUNT_ON_HOLD };
  const customer = await ensureStripeCustomer(db, stripe, input.user);
  const session = await stripe.checkout.sessions.create(
    {
      mode: "setup",
      currency: "usd",
      customer,
      client_reference_id: String(input.user.id),
      metadata: { app: "credits", userId: String(input.user.id), purpose: "save_card" },
      success_url: `${config.appUrl}/settings/billing?card=saved`,
      cancel_url: `${config.appUrl}/settings/billing`,
    },
    { idempotencyKey: stripeRequestKeys.cardSetupSession(input.user.id, formTokenOr(input.requestToken)) },
  );
  if (!session.url) throw new Error(`Stripe returned Checkout Session ${session.id} without a URL`);
  return { ok: true, id: session.id, url: session.url };
}
