/**
 * Whether a Checkout Session offers Stripe's promotion-code field (STRIPE_ALLOW_PROMOTION_CODES).
 * The codes themselves, and what they take off, live in the operator's Stripe account; the app
 * only lets the buyer enter one. What a discounted session grants is unchanged: the credits
 * recorded on it at checkout, once `payment_status` is `paid` or, for a 100% discount,
 * `no_payment_required` (fulfilment.server.ts). Every Checkout Session the app creates (packs,
 * and plans) spreads these options into its parameters, so the setting has one home.
 */
import type Stripe from "stripe";
import type { Config } from "../env.server";

export type PromotionCodeConfig = Pick<Config, "STRIPE_ALLOW_PROMOTION_CODES">;

export function promotionCodeOptions(config: PromotionCodeConfig): Pick<Stripe.Checkout.SessionCreateParams, "allow_promotion_codes"> {
  // Off: the parameter is left out, as Stripe's own default (no field) is what "off" means.
  return config.STRIPE_ALLOW_PROMOTION_CODES === "on" ? { allow_promotion_codes: true } : {};
}
