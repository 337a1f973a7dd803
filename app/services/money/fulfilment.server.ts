/**
 * Stripe Checkout → credits. One fulfilment path serves the webhook and the success page: the
 * session is read from Stripe (never from a webhook payload or a URL), and granted when Stripe
 * says it needs no more payment (`paid`, or `no_payment_required` for a 100% discount), for the
 * credits recorded on it at checkout, keyed `checkout:<session id>`: any interleaving grants once.
 */
import type Stripe from "stripe";
import type { PortableDb } from "#db/client.server";
import type { SqlRunner } from "#db/sql.server";
import { stripeIdOf } from "~/utils/stripe-ids";
import type { Config } from "../env.server";
import { logger } from "../logger.server";
import { markCheckout } from "./checkout-attempts.server";
import { grant, type Tx } from "./ledger.server";
import { ledgerKeys } from "./ledger-keys.server";
import { appSubscriptionUser } from "./ownership.server";
import { grantPlanInvoice, readPlanCheckout } from "./plan-invoices.server";
import { creditsForCheckout, findPack, purchaseExpiry } from "./pricing.server";

export type FulfilmentResult = (
  | { status: "granted" | "already_granted"; userId: number; credits: number; transaction: Tx }
  | { status: "awaiting_payment" | "expired" | "not_ours"; userId: number | null; credits: 0 }
) & {
  /** A subscription's checkout: its subscription row arrives by webhook, perhaps after the buyer. */
  subscription?: true;
};

/** The session as Stripe has it now, with what it sold. */
export function retrieveCheckout(stripe: Stripe, sessionId: string): Promise<Stripe.Checkout.Session> {
  return stripe.checkout.sessions.retrieve(sessionId, { expand: ["line_items"] });
}

/**
 * Grants a retrieved session, once, inside the write body `tx` (the webhook's, which records the
 * event in the same transaction, or fulfillCheckout's). Every statement runs on `tx`.
 */
export async function grantCheckout(config: Config, session: Stripe.Checkout.Session, tx: SqlRunner): Promise<FulfilmentResult> {
  const userId = Number(session.metadata?.userId ?? session.client_reference_id);
  // The buyer's row, locked (on PostgreSQL) until this body ends: deliveries of different events
  // about one session and the success page then grant one after the other, and the later ones
  // find the first's row and replay it, where they would otherwise both miss the key and one
  // would meet the unique index. (A no-op on SQLite, whose writes are serial anyway.)
  const user = Number.isSafeInteger(userId) && userId > 0 ? await tx.get<{ id: number }>("SELECT id FROM users WHERE id = ? FOR NO KEY UPDATE", [userId]) : undefined;
  if (session.mode !== "payment" || !user) {
    logger.warn({ sessionId: session.id, mode: session.mode, userId }, "checkout session does not belong to this app");
    return { status: "not_ours", userId: user ? userId : null, credits: 0 };
  }
  if (session.payment_status === "unpaid") {
    if (session.status === "expired") {
      await markCheckout(tx, session.id, "expired");
      return { status: "expired", userId, credits: 0 };
    }
    if (session.status === "complete") await markCheckout(tx, session.id, "processing");
    return { status: "awaiting_payment", userId, credits: 0 };
  }
  const credits = creditsForCheckout(config, session);
  if (credits <= 0) throw new Error(`Checkout Session ${session.id} is paid but maps to no credit pack`);
  const pack = findPack(config, session.metadata?.pack ?? "");
  const now = Date.now();
  const written = await grant(tx, {
    now,
    expiresAt: purchaseExpiry(config, session, now),
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
      paymentStatus: session.payment_status,
    },
  });
  await markCheckout(tx, session.id, "paid");
  return { status: written.replayed ? "already_granted" : "granted", userId, credits, transaction: written.transaction };
}

/** A plan's session: its first invoice's credits, granted as invoice.paid grants them (once). */
async function fulfillPlanCheckout(db: PortableDb, stripe: Stripe, config: Config, session: Stripe.Checkout.Session): Promise<FulfilmentResult> {
  const read = await readPlanCheckout({ db, stripe, config }, session);
  if ("ignore" in read) return { status: "not_ours", userId: null, credits: 0 };
  const awaiting = { status: "awaiting_payment", userId: appSubscriptionUser(session.metadata), credits: 0 } as const;
  const invoice = read.invoice;
  if (!invoice) return awaiting;
  const result = await db.sql.write((tx) => grantPlanInvoice(tx, invoice));
  return result.status === "not_paid" ? awaiting : result;
}

/** Safe to call any number of times, from anywhere, concurrently. */
export async function fulfillCheckout(db: PortableDb, stripe: Stripe, config: Config, sessionId: string): Promise<FulfilmentResult> {
  const session = await retrieveCheckout(stripe, sessionId);
  if (session.mode === "subscription") return { ...(await fulfillPlanCheckout(db, stripe, config, session)), subscription: true };
  return db.sql.write((tx) => grantCheckout(config, session, tx));
}
