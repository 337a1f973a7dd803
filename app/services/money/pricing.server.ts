/**
 * What things cost and what a purchase is worth, in credits. The figures come from the config
 * (IMAGE_COST, VIDEO_COST, VIDEO_COST_1080P, CREDITS_PER_PACK, CREDIT_PACKS, validated at start by
 * env.server.ts); the rules that turn them into a price or a grant live here and nowhere else.
 */
import type Stripe from "stripe";
import type { Config, CreditPack, CreditPlan } from "../env.server";
import { stripeIdOf } from "~/utils/stripe-ids";
import { MAX_VIDEO_SECONDS, VIDEO_RESOLUTIONS, type VideoResolution } from "~/utils/generation-options";

export type PricingConfig = Pick<Config, "IMAGE_COST" | "VIDEO_COST" | "VIDEO_COST_1080P" | "VIDEO_COST_SECONDS">;
export type GenerationCosts = { image: number; video: Record<VideoResolution, number> };

/** What each kind costs; a video's figure is for VIDEO_COST_SECONDS seconds (videoCost prices a
 * clip), and 1080p costs VIDEO_COST_1080P, by default twice VIDEO_COST. */
export function generationCosts(config: PricingConfig): GenerationCosts {
  return {
    image: config.IMAGE_COST,
    video: { "720p": config.VIDEO_COST, "1080p": config.VIDEO_COST_1080P ?? 2 * config.VIDEO_COST },
  };
}

/**
 * What a clip of `seconds` at `resolution` costs: the resolution's price is that of
 * VIDEO_COST_SECONDS seconds, other lengths pro rata, rounded up to a whole credit (never 0).
 */
export function videoCost(config: PricingConfig, resolution: VideoResolution, seconds: number): number {
  const perClip = generationCosts(config).video[resolution];
  return Math.max(1, Math.ceil((perClip * seconds) / config.VIDEO_COST_SECONDS));
}

/**
 * What the generate page shows: the rule in words (`perClip` credits per `perSeconds` s) and, for
 * the browser to look up as the length changes, the price of every length a caller may ask for
 * (`bySeconds[r][s - 1]`), computed here so the page holds no copy of the rule.
 */
export type VideoPrices = { perSeconds: number; perClip: Record<VideoResolution, number>; bySeconds: Record<VideoResolution, number[]> };

export function videoPrices(config: PricingConfig): VideoPrices {
  const lengths = Array.from({ length: MAX_VIDEO_SECONDS }, (_, i) => i + 1);
  const bySeconds = Object.fromEntries(VIDEO_RESOLUTIONS.map((r) => [r, lengths.map((s) => videoCost(config, r, s))])) as VideoPrices["bySeconds"];
  return { perSeconds: config.VIDEO_COST_SECONDS, perClip: generationCosts(config).video, bySeconds };
}

/**
 * The most seconds of video at `resolution` that `credits` pay for, at videoCost's rate: the
 * pricing page's "≈ M seconds of video". Found with videoCost itself (monotone in seconds), so the
 * page can never promise a length the generation would price higher.
 */
export function videoSecondsFor(config: PricingConfig, resolution: VideoResolution, credits: number): number {
  if (credits < videoCost(config, resolution, 1)) return 0;
  let low = 1; // affordable
  let high = 2;
  while (videoCost(config, resolution, high) <= credits) {
    low = high;
    high *= 2;
  }
  while (high - low > 1) {
    const mid = Math.floor((low + high) / 2);
    if (videoCost(config, resolution, mid) <= credits) low = mid;
    else high = mid;
  }
  return low;
}

/** What `credits` buy: whole images at IMAGE_COST, or seconds of video at each resolution. */
export function whatCreditsBuy(config: PricingConfig, credits: number): { images: number; videoSeconds: Record<VideoResolution, number> } {
  return {
    images: Math.floor(credits / generationCosts(config).image),
    videoSeconds: { "720p": videoSecondsFor(config, "720p", credits), "1080p": videoSecondsFor(config, "1080p", credits) },
  };
}

/** The configured pack with this id, or undefined. */
export function findPack(config: Pick<Config, "packs">, packId: string): CreditPack | undefined {
  return config.packs.find((p) => p.id === packId);
}

/** The configured plan with this id, or undefined. */
export function findPlan(config: Pick<Config, "plans">, planId: string): CreditPlan | undefined {
  return config.plans.find((p) => p.id === planId);
}

/** The configured plan sold at this (recurring) price, or undefined: what a subscription's
 * invoice is for is read from its line's price, never from metadata a plan change leaves stale. */
export function planForPrice(config: Pick<Config, "plans">, priceId: string | null | undefined): CreditPlan | undefined {
  return priceId ? config.plans.find((p) => p.priceId === priceId) : undefined;
}

/**
 * Credits a Checkout Session is worth: what the app recorded on it at checkout (metadata.credits),
 * so a change of CREDITS_PER_PACK or CREDIT_PACKS between checkout and fulfilment changes nothing.
 * Sessions started before the app recorded it are priced from their line items against the
 * configured packs. 0 means "not a purchase of ours".
 */
export function creditsForCheckout(config: Pick<Config, "packs">, session: Stripe.Checkout.Session): number {
  const recorded = Number(session.metadata?.credits);
  if (Number.isSafeInteger(recorded) && recorded > 0) return recorded;
  let total = 0;
  for (const item of session.line_items?.data ?? []) {
    const pack = config.packs.find((p) => p.priceId === stripeIdOf(item.price));
    if (!pack) return 0;
    total += pack.credits * (item.quantity ?? 1);
  }
  return total;
}

/** What a new Checkout Session records about the purchase, read back by creditsForCheckout and
 * purchaseExpiry: the credits and their lifetime are the pack's as it was when the buyer chose it. */
export function checkoutMetadata(userId: number, pack: CreditPack): Record<string, string> {
  return { userId: String(userId), pack: pack.id, credits: String(pack.credits), expiresAfterMs: pack.expiresAfterMs === null ? "never" : String(pack.expiresAfterMs) };
}

/**
 * When the credits of a paid session granted at `now` expire (null: never): the lifetime recorded
 * at checkout, else (older sessions) the configured pack's; purchased credits never expire unless
 * the pack says so.
 */
export function purchaseExpiry(config: Pick<Config, "packs">, session: Stripe.Checkout.Session, now: number): number | null {
  const recorded = session.metadata?.expiresAfterMs;
  if (recorded === "never") return null;
  const ms = Number(recorded);
  if (recorded && Number.isSafeInteger(ms) && ms > 0) return now + ms;
  const pack = findPack(config, session.metadata?.pack ?? "");
  return pack?.expiresAfterMs ? now + pack.expiresAfterMs : null;
}

/**
 * The credits a refund or dispute of `moneyTaken` (minor units) out of `moneyPaid` takes back from
 * a purchase of `credits`: the same share, rounded to the nearest credit, never more than it gave.
 */
export function creditsShare(credits: number, moneyTaken: number, moneyPaid: number): number {
  if (moneyPaid <= 0) return credits;
  return Math.min(credits, Math.round((credits * moneyTaken) / moneyPaid));
}
