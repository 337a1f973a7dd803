import { z } from "zod";
import { ListParams, expand, formBoolean, httpUrl, metadata } from "./params.server";

/** Parameters of the Billing endpoints (subscriptions, invoices, the Customer Portal); see params.server.ts. */

export const SubscriptionListParams = ListParams.extend({
  customer: z.string().optional(),
  price: z.string().optional(),
  status: z.enum(["active", "all", "canceled", "ended", "past_due"]).optional(),
}).strict();
export type SubscriptionListParams = z.infer<typeof SubscriptionListParams>;

export const SubscriptionUpdateParams = z
  .object({
    cancel_at_period_end: formBoolean.optional(),
    items: z
      .array(
        z
          .object({
            id: z.string().min(1),
            price: z.string().min(1).optional(),
            quantity: z.union([z.number().int(), z.string().regex(/^\d+$/).transform(Number)]).pipe(z.number().int().min(1)).optional(),
          })
          .strict(),
      )
      .length(1, "The Stripe emulator's subscriptions have exactly one item; pass items[0][id] (and price)")
      .optional(),
    // The emulator never prorates: a price change takes effect at the next renewal's invoice.
    proration_behavior: z
      .enum(["none"], {
        errorMap: () => ({ message: "The Stripe emulator does not prorate; only proration_behavior=none is accepted" }),
      })
      .optional(),
    metadata: metadata.optional(),
    expand: expand.optional(),
  })
  .strict();
export type SubscriptionUpdateParams = z.infer<typeof SubscriptionUpdateParams>;

export const InvoiceListParams = ListParams.extend({
  customer: z.string().optional(),
  subscription: z.string().optional(),
  status: z.enum(["draft", "open", "paid", "uncollectible", "void"]).optional(),
}).strict();

export const InvoicePaymentListParams = ListParams.extend({
  invoice: z.string().optional(),
  payment: z
    .object({ type: z.literal("payment_intent"), payment_intent: z.string().min(1).optional() })
    .strict()
    .optional(),
}).strict();

export const PortalSessionCreateParams = z
  .object({
    customer: z.string().min(1),
    return_url: httpUrl.optional(),
    locale: z.string().optional(),
    expand: expand.optional(),
  })
  .strict();
export type PortalSessionCreateParams = z.infer<typeof PortalSessionCreateParams>;

/** Test driver: move a subscription to its next period; the renewal's payment succeeds or fails. */
export const AdvanceInput = z.object({ outcome: z.enum(["paid", "payment_failed"]).default("paid") }).strict();
export type RenewalOutcome = z.infer<typeof AdvanceInput>["outcome"];
