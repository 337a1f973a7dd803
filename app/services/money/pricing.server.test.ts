import type Stripe from "stripe";
import { describe, expect, it } from "vitest";
import type { CreditPack } from "../env.server";
import { checkoutMetadata, purchaseExpiry } from "./pricing.server";

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
