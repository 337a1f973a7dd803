/**
 * The configured packs and plans with their price in money, read from Stripe (the price is
 * Stripe's to say) and cached for ten minutes so the billing and pricing pages do not call Stripe
 * on every view.
 */
import type Stripe from "stripe";
import type { Config, CreditPack, CreditPlan } from "../env.server";
import { logger } from "../logger.server";

/** What Stripe says a price is: minor units and currency; a recurring one, how often it is billed. */
export type StripePrice = {
  unitAmount: number | null;
  currency: string | null;
  interval: Stripe.Price.Recurring.Interval | null;
  intervalCount: number | null;
};
export type PackWithPrice = CreditPack & StripePrice;
export type PlanWithPrice = CreditPlan & StripePrice;

const priceCache = new Map<string, { at: number; price: StripePrice }>();
const PRICE_TTL_MS = 10 * 60 * 1000;
const UNKNOWN_PRICE: StripePrice = { unitAmount: null, currency: null, interval: null, intervalCount: null };

/** A price from Stripe (cached); one Stripe cannot give is all nulls, so a page still renders. */
async function readPrice(stripe: Stripe, priceId: string): Promise<StripePrice> {
  const cached = priceCache.get(priceId);
  if (cached && Date.now() - cached.at < PRICE_TTL_MS) return cached.price;
  try {
    const price = await stripe.prices.retrieve(priceId);
    const value: StripePrice = {
      unitAmount: price.unit_amount,
      currency: price.currency,
      interval: price.recurring?.interval ?? null,
      intervalCount: price.recurring?.interval_count ?? null,
    };
    priceCache.set(priceId, { at: Date.now(), price: value });
    return value;
  } catch (error) {
    logger.warn({ err: error, priceId }, "could not read a price from Stripe");
    return UNKNOWN_PRICE;
  }
}

/** The configured packs with their price from Stripe (cached); a price Stripe cannot give is null. */
export async function listPacksWithPrices(stripe: Stripe, config: Pick<Config, "packs">): Promise<PackWithPrice[]> {
  return Promise.all(config.packs.map(async (pack) => ({ ...pack, ...(await readPrice(stripe, pack.priceId)) })));
}

/** The configured plans with their recurring price from Stripe (cached), the same way. */
export async function listPlansWithPrices(stripe: Stripe, config: Pick<Config, "plans">): Promise<PlanWithPrice[]> {
  return Promise.all(config.plans.map(async (plan) => ({ ...plan, ...(await readPrice(stripe, plan.priceId)) })));
}
