/**
 * The Stripe Customer Portal, where a subscriber changes or cancels their plan and Stripe keeps
 * their card: this app only opens a session for the user's own Customer and sends them there.
 * Whatever they change comes back as customer.subscription.* webhooks (subscriptions.server.ts);
 * nothing here writes a row.
 */
import type Stripe from "stripe";
import type { User } from "#db/schema";
import type { Config } from "../env.server";
import { stripeRequestKeys } from "./ledger-keys.server";

export type PortalOpened = { ok: true; url: string };
export type PortalRefusal = { ok: false; reason: "no_customer"; message: string };

/**
 * A Customer Portal session for the user's Stripe Customer, returning to the billing page.
 * `formToken` (one per rendered form) makes a double-submitted form open the same session. A user
 * who never reached checkout has no Customer: refused before Stripe is called, and none is made
 * for them (a portal without anything in it helps nobody).
 */
export async function openCustomerPortal(
  stripe: Stripe,
  config: Pick<Config, "appUrl">,
  input: { user: Pick<User, "id" | "stripeCustomerId">; formToken: string },
): Promise<PortalOpened | PortalRefusal> {
  const customer = input.user.stripeCustomerId;
  if (!customer) {
    return { ok: false, reason: "no_customer", message: "There is no subscription or payment to manage yet: subscribe to a plan or buy credits first." };
  }
  const session = await stripe.billingPortal.sessions.create(
    { customer, return_url: `${config.appUrl}/settings/billing` },
    { idempotencyKey: stripeRequestKeys.portalSession(input.user.id, input.formToken) },
  );
  return { ok: true, url: session.url };
}
