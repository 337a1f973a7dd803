import type Stripe from "stripe";
import { describe, expect, it } from "vitest";
import type { CreditPack } from "../env.server";
import { checkoutMetadata, purchaseExpiry, videoCost, videoSecondsFor, whatCreditsBuy } from "./pricing.server";

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
