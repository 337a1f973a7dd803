/**
 * Asking Stripe to refund a purchase. Credits are NOT touched here: they come back through the
 * charge.refunded webhook (clawbacks.server.ts), the one place refunds are applied, so never twice.
 */
import type Stripe from "stripe";
import type { Tx } from "./ledger.server";
import { stripeRequestKeys } from "./ledger-keys.server";

/** `purchase` must have passed `refundabilityOf` (payment-queries.server.ts). The form token is
 * the Stripe idempotency key: a double submit is one refund. */
export async function requestStripeRefund(
  stripe: Stripe,
  purchase: Pick<Tx, "id" | "userId">,
  paymentIntentId: string,
  input: { amountCents?: number; requestToken: string },
): Promise<Stripe.Refund> {
  return stripe.refunds.create(
    {
      payment_intent: paymentIntentId,
      ...(input.amountCents ? { amount: input.amountCents } : {}),
      metadata: { transactionId: String(purchase.id), userId: String(purchase.userId) },
    },
    { idempotencyKey: stripeRequestKeys.adminRefund(purchase.id, input.requestToken) },
  );
}
