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
import type Stripe from "stripe";
import type { PortableDb } from "#db/client.server";
import { stripeIdOf } from "~/utils/stripe-ids";
import type { Config } from "../env.server";
import { inWrite, readerOf, type SqlTarget } from "../sql-target.server";
import { appSubscriptionUser } from "./ownership.server";
import { planForPrice } from "./pricing.server";

/** Statuses in which a subscription still bills the user: a second plan would be a second bill. */
export const LIVE_SUBSCRIPTION_STATUSES = ["active", "past_due"] as const;

const ms = (seconds: number | null | undefined): number | null => (typeof seconds === "number" ? seconds * 1000 : null);

/**
 * The user of an app subscription: its metadata names them and our user row has the same
 * customer. Null for a subscription that is not the app's, or whose metadata and customer disagree.
 */
export async function subscriptionOwner(db: SqlTarget, metadata: Stripe.Metadata | null | undefined, customerId: string | null): Promise<number | null> {
  const userId = appSubscriptionUser(metadata);
  if (userId === null || !customerId) return null;
  const user = await readerOf(db).get<{ customer: string | null }>(`SELECT stripe_customer_id AS customer FROM users WHERE id = ?`, [userId]);
  return user?.customer === customerId ? userId : null;
}

const LIVE_SQL = `SELECT id FROM subscriptions WHERE user_id = ? AND status IN (${LIVE_SUBSCRIPTION_STATUSES.map(() => "?").join(", ")}) LIMIT 1`;

/**
 * True when the user already pays a plan: a live row here, or (the webhook may not have arrived
 * yet) a live subscription of the app on their Stripe customer.
 */
export async function hasLiveSubscription(db: PortableDb, stripe: Stripe, userId: number, customerId: string): Promise<boolean> {
  const local = await db.sql.get<{ id: string }>(LIVE_SQL, [userId, ...LIVE_SUBSCRIPTION_STATUSES]);
  if (local) return true;
  const remote = await stripe.subscriptions.list({ customer: customerId, limit: 20 });
  const live: readonly string[] = LIVE_SUBSCRIPTION_STATUSES;
  return remote.data.some((s) => live.includes(s.status) && appSubscriptionUser(s.metadata) === userId);
}

export type SubscriptionApplied = { subscriptionId: string; status: string; written: boolean; why?: string };

// One statement: the row is written unless an event newer than this one wrote it, decided on the
// row as it is when the write lands (on PostgreSQL a concurrent writer's row is waited for, then
// the WHERE is checked against it), so a late, older delivery never overwrites a newer state.
const UPSERT_SQL = `INSERT INTO subscriptions (id, user_id, stripe_customer_id, plan_id, price_id, status,
     current_period_start, current_period_end, cancel_at_period_end, canceled_at, ended_at,
     stripe_event_created, created_at, updated_at)
   VALUES (@id, @userId, @stripeCustomerId, @planId, @priceId, @status, @currentPeriodStart, @currentPeriodEnd,
     @cancelAtPeriodEnd, @canceledAt, @endedAt, @stripeEventCreated, @now, @now)
   ON CONFLICT (id) DO UPDATE SET user_id = excluded.user_id, stripe_customer_id = excluded.stripe_customer_id,
     plan_id = excluded.plan_id, price_id = excluded.price_id, status = excluded.status,
     current_period_start = excluded.current_period_start, current_period_end = excluded.current_period_end,
     cancel_at_period_end = excluded.cancel_at_period_end, canceled_at = excluded.canceled_at,
     ended_at = excluded.ended_at, stripe_event_created = excluded.stripe_event_created, updated_at = excluded.updated_at
   WHERE subscriptions.stripe_event_created <= excluded.stripe_event_created
   RETURNING id`;

/**
 * Writes the row from the subscription as retrieved, unless a newer event wrote it already.
 * Runs on the webhook's write body `tx` (the transaction that marks the event processed).
 */
export async function applySubscription(
  tx: SqlTarget,
  config: Pick<Config, "plans">,
  sub: Stripe.Subscription,
  userId: number,
  eventCreated: number,
  now = Date.now(),
): Promise<SubscriptionApplied> {
  const item = sub.items.data[0];
  const priceId = item?.price.id ?? "";
  const params = {
    id: sub.id,
    userId,
    stripeCustomerId: stripeIdOf(sub.customer) ?? "",
    planId: planForPrice(config, priceId)?.id ?? null,
    priceId,
    status: sub.status,
    currentPeriodStart: ms(item?.current_period_start),
    currentPeriodEnd: ms(item?.current_period_end),
    cancelAtPeriodEnd: sub.cancel_at_period_end ? 1 : 0,
    canceledAt: ms(sub.canceled_at),
    endedAt: ms(sub.ended_at),
    stripeEventCreated: eventCreated,
    now,
  };
  const written = await inWrite(tx, (t) => t.get<{ id: string }>(UPSERT_SQL, params));
  if (!written) return { subscriptionId: sub.id, status: sub.status, written: false, why: "an event newer than this one wrote the subscription" };
  return { subscriptionId: sub.id, status: sub.status, written: true };
}
