/**
 * Stripe Checkout → credits. One fulfilment function (fulfillCheckout) serves the webhook and the
 * success page; the ledger key `checkout:<session id>` makes any interleaving of them grant once.
 */
import { eq } from "drizzle-orm";
import type Stripe from "stripe";
import type { AppDb } from "#db/client.server";
import { users } from "#db/schema";
import { stripeIdOf } from "~/utils/stripe-ids";
import type { Config } from "../env.server";
import { logger } from "../logger.server";
import { grant, type Tx } from "./ledger.server";
import { ledgerKeys } from "./ledger-keys.server";
import { creditsForCheckout, findPack } from "./pricing.server";

export type FulfilmentResult =
  | { status: "granted" | "already_granted"; userId: number; credits: number; transaction: Tx }
  | { status: "awaiting_payment" | "expired" | "not_ours"; userId: number | null; credits: 0 };

/**
 * The one fulfilment path: reads the session from Stripe (never trusting a webhook payload or a
 * URL), grants only when it is paid, keyed on the session id. Safe to call any number of times,
 * from anywhere, concurrently.
 */
export async function fulfillCheckout(
  db: AppDb,
  stripe: Stripe,
  config: Config,
  sessionId: string,
): Promise<FulfilmentResult> {
  const session = await stripe.checkout.sessions.retrieve(sessionId, { expand: ["line_items"] });
  const userId = Number(session.metadata?.userId ?? session.client_reference_id);
  const user = Number.isSafeInteger(userId)
    ? db.orm.select({ id: users.id }).from(users).where(eq(users.id, userId)).get()
    : undefined;
  if (session.mode !== "payment" || !user) {
    logger.warn({ sessionId, mode: session.mode, userId }, "checkout session does not belong to this app");
    return { status: "not_ours", userId: user ? userId : null, credits: 0 };
  }
  if (session.payment_status !== "paid") {
    return { status: session.status === "expired" ? "expired" : "awaiting_payment", userId, credits: 0 };
  }
  const credits = creditsForCheckout(config, session);
  if (credits <= 0) throw new Error(`Checkout Session ${session.id} is paid but maps to no credit pack`);
  const pack = findPack(config, session.metadata?.pack ?? "");
  const written = grant(db, {
    userId,
    amount: credits,
    type: "purchase",
    key: ledgerKeys.checkout(session.id),
    description: `Bought ${pack?.name ?? `${credits} credits`}`,
    stripePaymentId: stripeIdOf(session.payment_intent),
    meta: {
      checkoutSessionId: session.id,
      amountTotal: session.amount_total,
      currency: session.currency,
      pack: session.metadata?.pack ?? null,
    },
  });
  return {
    status: written.replayed ? "already_granted" : "granted",
    userId,
    credits,
    transaction: written.transaction,
  };
}
