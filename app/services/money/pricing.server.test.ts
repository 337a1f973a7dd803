import type Stripe from "stripe";
import { describe, expect, it } from "vitest";
import type { CreditPack } from "../env.server";
import { checkoutMetadata, purchaseExpiry, videoCost, videoPrices, videoSecondsFor, whatCreditsBuy, type PricingConfig } from "./pricing.server";

const DAY = 86_400_000;
const packs: CreditPack[] = [
  { id: "default", priceId: "p1", credits: 500, name: "500 credits", expiresAfterMs: null },
  { id: "trial", priceId: "p2", credits: 50, name: "Trial", expiresAfterMs: 90 * DAY },
];
const session = (metadata: Record<string, string>) => ({ metadata }) as unknown as Stripe.Checkout.Session;

describe("purchaseExpiry", () => {
  it("uses the lifetime recorded at checkout, so a later config change changes nothing", () => {
    const metadata = checkoutMetadata(1, packs[1]);
    expect(purchaseExpiry({ packs: [] }, session(metadata), 1_000)).toBe(1_000 + 90 * DAY);
    expect(purchaseExpiry({ packs }, session(checkoutMetadata(1, packs[0])), 1_000)).toBeNull();
  });

  it("falls back to the configured pack for sessions that recorded none; purchases never expire by default", () => {
    expect(purchaseExpiry({ packs }, session({ pack: "trial" }), 1_000)).toBe(1_000 + 90 * DAY);
    expect(purchaseExpiry({ packs }, session({ pack: "default" }), 1_000)).toBeNull();
    expect(purchaseExpiry({ packs }, session({}), 1_000)).toBeNull();
    expect(purchaseExpiry({ packs }, session({ pack: "trial", expiresAfterMs: "garbage" }), 1_000)).toBe(1_000 + 90 * DAY);
  });
});

describe("videoCost: VIDEO_COST is the price of VIDEO_COST_SECONDS at 720p, other lengths pro rata, rounded up", () => {
  const config = (VIDEO_COST: number, VIDEO_COST_SECONDS: number, VIDEO_COST_1080P?: number): PricingConfig => ({
    IMAGE_COST: 5,
    VIDEO_COST,
    VIDEO_COST_1080P,
    VIDEO_COST_SECONDS,
  });
  // seconds, resolution, VIDEO_COST, VIDEO_COST_SECONDS, (VIDEO_COST_1080P), expected
  const table: [number, "720p" | "1080p", number, number, number | undefined, number][] = [
    [1, "720p", 50, 8, undefined, 7], // 6.25 → 7
    [4, "720p", 50, 8, undefined, 25], // the default length
    [7, "720p", 50, 8, undefined, 44], // 43.75 → 44
    [8, "720p", 50, 8, undefined, 50],
    [9, "720p", 50, 8, undefined, 57], // 56.25 → 57
    [20, "720p", 50, 8, undefined, 125],
    [1, "1080p", 50, 8, undefined, 13], // 1080p defaults to 2 × VIDEO_COST: 12.5 → 13
    [8, "1080p", 50, 8, undefined, 100],
    [9, "1080p", 50, 8, undefined, 113], // 112.5 → 113
    [20, "1080p", 50, 8, undefined, 250],
    [7, "1080p", 50, 8, 70, 62], // VIDEO_COST_1080P is the 8-second price: 61.25 → 62
    [1, "720p", 1, 8, undefined, 1], // 0.125 → 1: a clip never costs nothing
    [1, "720p", 1, 60, undefined, 1],
    [20, "720p", 10, 1, undefined, 200], // VIDEO_COST_SECONDS=1: a price per second
    [9, "720p", 30, 4, undefined, 68], // 67.5 → 68
    [20, "720p", 100_000, 1, undefined, 2_000_000], // the largest figures stay exact integers
  ];
  it.each(table)("%i s at %s, VIDEO_COST %i per %i s (1080p: %s) → %i", (seconds, resolution, cost, perSeconds, cost1080, expected) => {
    expect(videoCost(config(cost, perSeconds, cost1080), resolution, seconds)).toBe(expected);
  });

  it("the page's price list is the same rule for every length a caller may ask for", () => {
    const c = config(50, 8);
    const prices = videoPrices(c);
    expect(prices.perSeconds).toBe(8);
    expect(prices.perClip).toEqual({ "720p": 50, "1080p": 100 });
    for (const r of ["720p", "1080p"] as const) {
      expect(prices.bySeconds[r]).toHaveLength(20);
      prices.bySeconds[r].forEach((credits, i) => expect(credits).toBe(videoCost(c, r, i + 1)));
    }
  });
});

describe("videoSecondsFor / whatCreditsBuy", () => {
  const config = { IMAGE_COST: 5, VIDEO_COST: 50, VIDEO_COST_1080P: undefined, VIDEO_COST_SECONDS: 8 };

  it.each([
    [0, 0],
    [6, 0], // one second costs ceil(50/8) = 7
    [7, 1],
    [50, 8],
    [51, 8],
    [1000, 160],
    [1_000_000, 160_000],
  ])("%i credits buy %i s at 720p", (credits, seconds) => {
    expect(videoSecondsFor(config, "720p", credits)).toBe(seconds);
  });

  it("never promises a length that videoCost prices above the credits, nor leaves a second out", () => {
    for (const c of [{ ...config }, { ...config, VIDEO_COST: 3, VIDEO_COST_SECONDS: 7 }, { ...config, VIDEO_COST_1080P: 333, VIDEO_COST_SECONDS: 1 }]) {
      for (let credits = 0; credits < 2000; credits += 37) {
        for (const resolution of ["720p", "1080p"] as const) {
          const s = videoSecondsFor(c, resolution, credits);
          if (s > 0) expect(videoCost(c, resolution, s)).toBeLessThanOrEqual(credits);
          expect(videoCost(c, resolution, s + 1)).toBeGreaterThan(credits);
        }
      }
    }
  });

  it("counts whole images and both resolutions (1080p twice 720p by default)", () => {
    expect(whatCreditsBuy(config, 1000)).toEqual({ images: 200, videoSeconds: { "720p": 160, "1080p": 80 } });
    expect(whatCreditsBuy({ ...config, IMAGE_COST: 3 }, 10)).toEqual({ images: 3, videoSeconds: { "720p": 1, "1080p": 0 } });
  });
});
