/**
 * The `subscriptions` row: a user's Stripe subscription as Stripe has it now, kept by the
 * customer.subscription.* events. The row grants nothing (credits come from paid invoices,
 * plan-invoices.server.ts); pages read it, and a second plan checkout is refused while it is live.
 *
 * Every event is applied by retrieving the subscription (the current object is the truth, not the
 * event's snapshot), and only when the event is not older than the one the row was last written
 * from (`stripe_event_created`), so a late, older delivery never overwrites a newer state.
 * See docs/decisions/023-subscriptions.md.
 */
import { and, eq, inArray } from "drizzle-orm";
import type Stripe from "stripe";
import type { AppDb } from "#db/client.server";
import { subscriptions, users } from "#db/schema";
import { stripeIdOf } from "~/utils/stripe-ids";
import type { Config } from "../env.server";
import { appSubscriptionUser } from "./ownership.server";
import { planForPrice } from "./pricing.server";

/** Statuses in which a subscription still bills the user: a second plan would be a second bill. */
export const LIVE_SUBSCRIPTION_STATUSES = ["active", "past_due"] as const;

const ms = (seconds: number | null | undefined): number | null => (typeof seconds === "number" ? seconds * 1000 : null);

/**
 * The user of an app subscription: its metadata names them and our user row has the same
 * customer. Null for a subscription that is not the app's, or whose metadata and customer disagree.
 */
export function subscriptionOwner(db: AppDb, metadata: Stripe.Metadata | null | undefined, customerId: string | null): number | null {
  const userId = appSubscriptionUser(metadata);
  if (userId === null || !customerId) return null;
  const user = db.orm.select({ customer: users.stripeCustomerId }).from(users).where(eq(users.id, userId)).get();
  return user?.customer === customerId ? userId : null;
}

/**
 * True when the user already pays a plan: a live row here, or (the webhook may not have arrived
 * yet) a live subscription of the app on their Stripe customer.
 */
export async function hasLiveSubscription(db: AppDb, stripe: Stripe, userId: number, customerId: string): Promise<boolean> {
  const local = db.orm
    .select({ id: subscriptions.id })
    .from(subscriptions)
    .where(and(eq(subscriptions.userId, userId), inArray(subscriptions.status, [...LIVE_SUBSCRIPTION_STATUSES])))
    .get();
  if (local) return true;
  const remote = await stripe.subscriptions.list({ customer: customerId, limit: 20 });
  const live: readonly string[] = LIVE_SUBSCRIPTION_STATUSES;
  return remote.data.some((s) => live.includes(s.status) && appSubscriptionUser(s.metadata) === userId);
}

export type SubscriptionApplied = { subscriptionId: string; status: string; written: boolean; why?: string };

/**
 * Writes the row from the subscription as retrieved, unless a newer event wrote it already.
 * Synchronous: the webhook runs it in the transaction that marks the event processed.
 */
export function applySubscription(
  db: AppDb,
  config: Pick<Config, "plans">,
  sub: Stripe.Subscription,
  userId: number,
  eventCreated: number,
  now = Date.now(),
): SubscriptionApplied {
  const item = sub.items.data[0];
  const priceId = item?.price.id ?? "";
  const fields = {
    userId,
    stripeCustomerId: stripeIdOf(sub.customer) ?? "",
    planId: planForPrice(config, priceId)?.id ?? null,
    priceId,
    status: sub.status,
    currentPeriodStart: ms(item?.current_period_start),
    currentPeriodEnd: ms(item?.current_period_end),
    cancelAtPeriodEnd: sub.cancel_at_period_end,
    canceledAt: ms(sub.canceled_at),
    endedAt: ms(sub.ended_at),
    stripeEventCreated: eventCreated,
    updatedAt: now,
  };
  const existing = db.orm.select({ created: subscriptions.stripeEventCreated }).from(subscriptions).where(eq(subscriptions.id, sub.id)).get();
  if (existing && existing.created > eventCreated) {
    return { subscriptionId: sub.id, status: sub.status, written: false, why: "an event newer than this one wrote the subscription" };
  }
  db.orm
    .insert(subscriptions)
    .values({ id: sub.id, ...fields, createdAt: now })
    .onConflictDoUpdate({ target: subscriptions.id, set: fields })
    .run();
  return { subscriptionId: sub.id, status: sub.status, written: true };
}
