import { and, eq, isNull, sql } from "drizzle-orm";
import type Stripe from "stripe";
import type { AppDb } from "#db/client.server";
import { transactions, users, type User } from "#db/schema";
import { clawback, findPurchaseByPaymentId, grant, type Tx } from "./credits.server";
import type { Config, CreditPack } from "./env.server";
import { logger } from "./logger.server";

// Stripe Checkout → credits. One fulfilment function (fulfillCheckout) serves the webhook and the
// success page; the ledger key `checkout:<session id>` makes any interleaving of them grant once.

export class UnknownPackError extends Error {
  constructor(readonly packId: string) {
    super(`Unknown pack "${packId}".`);
  }
}

export class AccountFlaggedError extends Error {
  constructor() {
    super("This account is on hold because of a disputed payment. Contact support.");
  }
}

export function findPack(config: Config, packId: string): CreditPack {
  const pack = config.packs.find((p) => p.id === packId);
  if (!pack) throw new UnknownPackError(packId);
  return pack;
}

export type PackWithPrice = CreditPack & { unitAmount: number | null; currency: string | null };

const priceCache = new Map<string, { at: number; price: { unitAmount: number | null; currency: string | null } }>();
const PRICE_TTL_MS = 10 * 60 * 1000;

/** The configured packs with their price from Stripe (cached); a price Stripe cannot give is null. */
export async function listPacksWithPrices(stripe: Stripe, config: Config): Promise<PackWithPrice[]> {
  return Promise.all(
    config.packs.map(async (pack) => {
      const cached = priceCache.get(pack.priceId);
      if (cached && Date.now() - cached.at < PRICE_TTL_MS) return { ...pack, ...cached.price };
      try {
        const price = await stripe.prices.retrieve(pack.priceId);
        const value = { unitAmount: price.unit_amount, currency: price.currency };
        priceCache.set(pack.priceId, { at: Date.now(), price: value });
        return { ...pack, ...value };
      } catch (error) {
        logger.warn({ err: error, priceId: pack.priceId }, "could not read a pack's price from Stripe");
        return { ...pack, unitAmount: null, currency: null };
      }
    }),
  );
}

/** Reuses the user's Stripe Customer or creates one (idempotently) and remembers it. */
export async function ensureStripeCustomer(db: AppDb, stripe: Stripe, user: User): Promise<string> {
  if (user.stripeCustomerId) return user.stripeCustomerId;
  const customer = await stripe.customers.create(
    { email: user.email, metadata: { userId: String(user.id) } },
    { idempotencyKey: `customer-for-user-${user.id}` },
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

/**
 * Creates a Checkout Session for a pack. `requestToken` (a random token rendered in the form)
 * makes a double-submitted form return the same session instead of a second one.
 */
export async function createCheckoutSession(
  db: AppDb,
  stripe: Stripe,
  config: Config,
  input: { user: User; packId: string; requestToken?: string },
): Promise<{ id: string; url: string }> {
  const pack = findPack(config, input.packId);
  if (input.user.flaggedAt) throw new AccountFlaggedError();
  const customer = await ensureStripeCustomer(db, stripe, input.user);
  const token = input.requestToken ?? `minute-${Math.floor(Date.now() / 60_000)}`;
  const session = await stripe.checkout.sessions.create(
    {
      mode: "payment",
      customer,
      client_reference_id: String(input.user.id),
      line_items: [{ price: pack.priceId, quantity: 1 }],
      metadata: { userId: String(input.user.id), pack: pack.id, credits: String(pack.credits) },
      payment_intent_data: { metadata: { userId: String(input.user.id), pack: pack.id } },
      success_url: `${config.appUrl}/settings/billing/success?session_id={CHECKOUT_SESSION_ID}`,
      cancel_url: `${config.appUrl}/settings/billing/cancelled`,
    },
    { idempotencyKey: `checkout-${input.user.id}-${pack.id}-${token}` },
  );
  if (!session.url) throw new Error(`Stripe returned Checkout Session ${session.id} without a URL`);
  return { id: session.id, url: session.url };
}

export type FulfilmentResult =
  | { status: "granted" | "already_granted"; userId: number; credits: number; transaction: Tx }
  | { status: "awaiting_payment" | "expired" | "not_ours"; userId: number | null; credits: 0 };

function idOf(value: string | { id: string } | null | undefined): string | null {
  if (!value) return null;
  return typeof value === "string" ? value : value.id;
}

/** Credits a session is worth: its line items priced against the configured packs, falling back
 * to the credits recorded in its metadata when a pack's price changed since the purchase. */
function creditsFor(config: Config, session: Stripe.Checkout.Session): number {
  const items = session.line_items?.data ?? [];
  let total = 0;
  for (const item of items) {
    const priceId = idOf(item.price);
    const pack = config.packs.find((p) => p.priceId === priceId);
    if (!pack) {
      total = 0;
      break;
    }
    total += pack.credits * (item.quantity ?? 1);
  }
  if (total > 0) return total;
  const fromMetadata = Number(session.metadata?.credits);
  return Number.isSafeInteger(fromMetadata) && fromMetadata > 0 ? fromMetadata : 0;
}

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
  const credits = creditsFor(config, session);
  if (credits <= 0) throw new Error(`Checkout Session ${session.id} is paid but maps to no credit pack`);
  const pack = config.packs.find((p) => p.id === session.metadata?.pack);
  const written = grant(db, {
    userId,
    amount: credits,
    type: "purchase",
    key: `checkout:${session.id}`,
    description: `Bought ${pack?.name ?? `${credits} credits`}`,
    stripePaymentId: idOf(session.payment_intent),
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

function purchaseMeta(purchase: Tx): { amountTotal: number | null } {
  try {
    const meta = JSON.parse(purchase.meta ?? "{}") as { amountTotal?: unknown };
    return { amountTotal: typeof meta.amountTotal === "number" ? meta.amountTotal : null };
  } catch {
    return { amountTotal: null };
  }
}

/** Credits already taken back for a purchase (refund rows are negative). */
function clawedBackFor(db: AppDb, paymentIntentId: string): number {
  const row = db.orm
    .select({ total: sql<number>`coalesce(-sum(${transactions.amount}), 0)` })
    .from(transactions)
    .where(and(eq(transactions.stripePaymentId, paymentIntentId), eq(transactions.type, "refund")))
    .get();
  return row?.total ?? 0;
}

export class PurchaseNotFoundYetError extends Error {
  constructor(paymentIntentId: string) {
    // Answering 500 makes Stripe retry: the purchase's own event may simply not have arrived yet.
    super(`No purchase recorded yet for payment ${paymentIntentId}; retry later`);
  }
}

/** The purchase a refund or dispute is about, and the money it was paid with (in cents). */
function purchaseBehind(
  db: AppDb,
  paymentIntent: string | { id: string } | null,
  fallbackAmount: number,
): { purchase: Tx; paid: number; paymentIntentId: string } | null {
  const paymentIntentId = idOf(paymentIntent);
  if (!paymentIntentId) return null;
  const purchase = findPurchaseByPaymentId(db, paymentIntentId);
  if (!purchase) throw new PurchaseNotFoundYetError(paymentIntentId);
  return { purchase, paid: purchaseMeta(purchase).amountTotal ?? fallbackAmount, paymentIntentId };
}

/**
 * A refund on Stripe takes back credits in proportion to the money refunded. The charge carries
 * the cumulative amount refunded, so the key `refund:<charge>:<cumulative amount>` is unique per
 * refund state: a replay takes nothing twice, and an older event arriving late takes nothing.
 */
export function applyChargeRefunded(db: AppDb, charge: Stripe.Charge): { clawedBack: number } {
  const found = purchaseBehind(db, charge.payment_intent, charge.amount);
  if (!found) return { clawedBack: 0 };
  const { purchase, paid, paymentIntentId } = found;
  const apply = db.sqlite.transaction(() => {
    const target = Math.min(purchase.amount, Math.round((purchase.amount * charge.amount_refunded) / paid));
    const already = clawedBackFor(db, paymentIntentId);
    const delta = target - already;
    if (delta <= 0) return 0;
    clawback(db, {
      userId: purchase.userId,
      amount: delta,
      key: `refund:${charge.id}:${charge.amount_refunded}`,
      description:
        charge.amount_refunded >= charge.amount ? "Payment refunded: credits taken back" : "Partial refund: credits taken back",
      stripePaymentId: paymentIntentId,
      meta: { chargeId: charge.id, amountRefunded: charge.amount_refunded, amount: charge.amount },
    });
    return delta;
  });
  return { clawedBack: apply.immediate() };
}

/**
 * A dispute takes back the disputed share of the purchase's credits (what refunds have not
 * already taken) and puts the account on hold until an admin clears it.
 */
export function applyDisputeCreated(db: AppDb, dispute: Stripe.Dispute): { clawedBack: number } {
  const found = purchaseBehind(db, dispute.payment_intent, dispute.amount);
  if (!found) return { clawedBack: 0 };
  const { purchase, paid, paymentIntentId } = found;
  const apply = db.sqlite.transaction(() => {
    const disputed = Math.min(purchase.amount, Math.round((purchase.amount * dispute.amount) / paid));
    const delta = Math.min(disputed, purchase.amount - clawedBackFor(db, paymentIntentId));
    db.orm
      .update(users)
      .set({ flaggedAt: Date.now(), flaggedReason: `Payment disputed (${dispute.reason})`, updatedAt: Date.now() })
      .where(and(eq(users.id, purchase.userId), isNull(users.flaggedAt)))
      .run();
    if (delta <= 0) return 0;
    clawback(db, {
      userId: purchase.userId,
      amount: delta,
      key: `dispute:${dispute.id}`,
      description: "Payment disputed: credits taken back",
      stripePaymentId: paymentIntentId,
      meta: { disputeId: dispute.id, reason: dispute.reason, amount: dispute.amount },
    });
    return delta;
  });
  return { clawedBack: apply.immediate() };
}

/**
 * An admin refunds a purchase through Stripe. Credits are NOT touched here: they come back
 * through the charge.refunded webhook, the one place refunds are applied, so never twice.
 */
export async function refundPurchase(
  db: AppDb,
  stripe: Stripe,
  input: { transactionId: number; amountCents?: number; requestToken: string },
): Promise<Stripe.Refund> {
  const purchase = db.orm.select().from(transactions).where(eq(transactions.id, input.transactionId)).get();
  if (!purchase || purchase.type !== "purchase" || !purchase.stripePaymentId) {
    throw new Error("Only a Stripe purchase can be refunded.");
  }
  return stripe.refunds.create(
    {
      payment_intent: purchase.stripePaymentId,
      ...(input.amountCents ? { amount: input.amountCents } : {}),
      metadata: { transactionId: String(purchase.id), userId: String(purchase.userId) },
    },
    { idempotencyKey: `admin-refund-${purchase.id}-${input.requestToken}` },
  );
}
