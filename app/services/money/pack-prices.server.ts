/**
 * The configured packs with their price in money, read from Stripe (the price is Stripe's to say)
 * and cached for ten minutes so the billing page does not call Stripe on every view.
 */
import type Stripe from "stripe";
import type { Config, CreditPack } from "../env.server";
import { logger } from "../logger.server";

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
