import { z } from "zod";
import { ListParams, expand, formBoolean, httpUrl, metadata } from "./params.server";

/** Parameters of the saved-card endpoints: PaymentMethods, SetupIntents, PaymentIntents (see params.server.ts). */

const formInteger = z.union([
  z.number().int(),
  z
    .string()
    .regex(/^-?\d+$/, "Invalid integer")
    .transform(Number),
]);

export const PaymentMethodListParams = ListParams.extend({
  customer: z.string().min(1).optional(),
  type: z.string().min(1).optional(),
}).strict();
export type PaymentMethodListParams = z.infer<typeof PaymentMethodListParams>;

export const CustomerPaymentMethodListParams = ListParams.extend({ type: z.string().min(1).optional() }).strict();

export const PaymentIntentCreateParams = z
  .object({
    amount: formInteger.pipe(z.number().int().min(1, "Invalid positive integer").max(99_999_999)),
    currency: z
      .string()
      .regex(/^[a-zA-Z]{3}$/, "Invalid currency")
      .transform((value) => value.toLowerCase()),
    customer: z.string().min(1).optional(),
    payment_method: z.string().min(1).optional(),
    confirm: formBoolean.optional(),
    // `one_off` and `recurring` say which kind of merchant-initiated payment it is; both are off-session.
    off_session: z.union([formBoolean, z.enum(["one_off", "recurring"])]).optional(),
    metadata: metadata.optional(),
    description: z.string().max(1000).optional(),
    receipt_email: z.string().email().optional(),
    // Since 2026-09-30 a filter on the methods Stripe picks (`payment_method_types` is gone from this version).
    allowed_payment_method_types: z.array(z.string().min(1)).min(1).optional(),
    automatic_payment_methods: z
      .object({ enabled: formBoolean, allow_redirects: z.enum(["always", "never"]).optional() })
      .strict()
      .optional(),
    return_url: httpUrl.optional(),
    setup_future_usage: z.enum(["off_session", "on_session"]).optional(),
    expand: expand.optional(),
  })
  .strict();
export type PaymentIntentCreateParams = z.infer<typeof PaymentIntentCreateParams>;

export const PaymentIntentListParams = ListParams.extend({ customer: z.string().min(1).optional() }).strict();
