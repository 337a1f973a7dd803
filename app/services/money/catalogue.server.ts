/**
 * What the app sells and what it is worth, as the pricing page tells it: each plan and pack with
 * its price (Stripe's, pack-prices.server.ts), what its credits buy (pricing.server.ts), and how
 * long credits live (the config). Nothing here is a new rule: every figure comes from the one home
 * of its rule, so the page cannot drift from what checkout, the ledger and generation do.
 */
import type Stripe from "stripe";
import { MAX_VIDEO_SECONDS, type VideoResolution } from "~/utils/generation-options";
import type { Config } from "../env.server";
import { listPacksWithPrices, listPlansWithPrices, type PackWithPrice, type PlanWithPrice } from "./pack-prices.server";
import { generationCosts, videoCost, whatCreditsBuy } from "./pricing.server";

export type CreditsBuy = ReturnType<typeof whatCreditsBuy>;

export type Catalogue = {
  plans: (PlanWithPrice & { buys: CreditsBuy })[];
  packs: (PackWithPrice & { buys: CreditsBuy })[];
  imageCost: number;
  /** The price of a few clip lengths at each resolution (the configured length first). */
  videoClips: { seconds: number; cost: Record<VideoResolution, number> }[];
  signupBonus: { credits: number; expiresAfterMs: number | null };
};

/** The clip lengths the page prices: the configured one (VIDEO_COST_SECONDS), a second, up to the longest clip. */
function clipLengths(configured: number): number[] {
  return [...new Set([configured, 1, 4, 12, MAX_VIDEO_SECONDS])].sort((a, b) => a - b);
}

export async function getCatalogue(
  stripe: Stripe,
  config: Pick<Config, "plans" | "packs" | "IMAGE_COST" | "VIDEO_COST" | "VIDEO_COST_1080P" | "VIDEO_COST_SECONDS" | "SIGNUP_BONUS_CREDITS" | "SIGNUP_BONUS_EXPIRES_AFTER">,
): Promise<Catalogue> {
  const [plans, packs] = await Promise.all([listPlansWithPrices(stripe, config), listPacksWithPrices(stripe, config)]);
  return {
    plans: plans.map((plan) => ({ ...plan, buys: whatCreditsBuy(config, plan.credits) })),
    packs: packs.map((pack) => ({ ...pack, buys: whatCreditsBuy(config, pack.credits) })),
    imageCost: generationCosts(config).image,
    videoClips: clipLengths(config.VIDEO_COST_SECONDS).map((seconds) => ({
      seconds,
      cost: { "720p": videoCost(config, "720p", seconds), "1080p": videoCost(config, "1080p", seconds) },
    })),
    signupBonus: { credits: config.SIGNUP_BONUS_CREDITS, expiresAfterMs: config.SIGNUP_BONUS_EXPIRES_AFTER },
  };
}
