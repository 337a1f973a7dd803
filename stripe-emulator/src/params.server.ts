import { z } from "zod";
import { invalidRequest } from "./errors.server";
import { paramName } from "./form-encoding.server";
import { TEST_CARDS, findTestCard } from "./test-cards.server";

/**
 * The request parameters the emulator understands, one zod schema per endpoint; the types the
 * rest of the emulator uses are inferred from them. Unknown parameters are refused the way Stripe
 * refuses them (`Received unknown parameter: ...`), so a parameter that the emulator would silently
 * ignore cannot slip through.
 */

const formInteger = z.union([
  z.number().int(),
  z
    .string()
    .regex(/^-?\d+$/, "Invalid integer")
    .transform(Number),
]);
const positiveInteger = formInteger.pipe(z.number().int().min(1, "Invalid positive integer"));
export const formBoolean = z.union([z.boolean(), z.enum(["true", "false"]).transform((value) => value === "true")]);

/** `metadata[0]=x` would decode as an array; metadata is always a map. */
export const metadata = z.preprocess(
  (value) => (Array.isArray(value) ? Object.fromEntries(value.map((v, i) => [String(i), v])) : value),
  z
    .record(z.string().max(40, "Metadata keys can be at most 40 characters"), z.string().max(500, "Metadata values can be at most 500 characters"))
    .refine((value) => Object.keys(value).length <= 50, "Metadata can have at most 50 keys"),
);
export const expand = z.array(z.string().min(1)).max(20);
export const httpUrl = z.string().refine((value) => {
  if (!URL.canParse(value)) return false;
  const { protocol } = new URL(value);
  return protocol === "http:" || protocol === "https:";
}, "Not a valid URL");

export const RetrieveParams = z.object({ expand: expand.optional() }).strict();

export const ListParams = z
  .object({
    limit: formInteger.pipe(z.number().int().min(1).max(100)).optional(),
    starting_after: z.string().optional(),
    ending_before: z.string().optional(),
    expand: expand.optional(),
  })
  .strict();
export type ListParams = z.infer<typeof ListParams>;

export const EventListParams = ListParams.extend({ type: z.string().optional() }).strict();

/** GET /v1/checkout/sessions: Stripe's filters that the app uses (a refund finds its session). */
export const CheckoutSessionListParams = ListParams.extend({
  payment_intent: z.string().optional(),
  customer: z.string().optional(),
  status: z.enum(["open", "complete", "expired"]).optional(),
}).strict();

export const CustomerCreateParams = z
  .object({
    email: z.string().max(512).optional(),
    name: z.string().max(256).optional(),
    description: z.string().max(350).optional(),
    phone: z.string().max(20).optional(),
    metadata: metadata.optional(),
    expand: expand.optional(),
  })
  .strict();
export type CustomerCreateParams = z.infer<typeof CustomerCreateParams>;

/** A default card is set once the card is saved (attached), so only an update takes one; "" unsets it. */
export const CustomerUpdateParams = CustomerCreateParams.extend({
  invoice_settings: z.object({ default_payment_method: z.string().optional() }).strict().optional(),
}).strict();
export type CustomerUpdateParams = z.infer<typeof CustomerUpdateParams>;

export const CheckoutSessionCreateParams = z
  .object({
    mode: z.enum(["payment", "setup", "subscription"], {
      errorMap: () => ({ message: "The Stripe emulator supports only mode=payment, mode=setup and mode=subscription" }),
    }),
    line_items: z
      .array(
        z
          .object({
            price: z.string().min(1),
            quantity: positiveInteger.pipe(z.number().max(999_999)),
          })
          .strict(),
      )
      .min(1)
      .max(100)
      // Required in payment and subscription mode, refused in setup mode (checkout-sessions.server.ts).
      .optional(),
    // Setup mode only: the currency of the payment methods to offer.
    currency: z
      .string()
      .regex(/^[a-zA-Z]{3}$/, "Invalid currency")
      .transform((value) => value.toLowerCase())
      .optional(),
    customer: z.string().min(1).optional(),
    customer_email: z.string().email().optional(),
    customer_creation: z.enum(["always", "if_required"]).optional(),
    client_reference_id: z.string().max(200).optional(),
    metadata: metadata.optional(),
    success_url: httpUrl.optional(),
    cancel_url: httpUrl.optional(),
    expires_at: formInteger.optional(),
    payment_intent_data: z
      .object({
        description: z.string().max(1000).optional(),
        metadata: metadata.optional(),
        // Saves the card to the customer for later payments (on_session: with them present).
        setup_future_usage: z.enum(["off_session", "on_session"]).optional(),
      })
      .strict()
      .optional(),
    setup_intent_data: z
      .object({
        description: z.string().max(1000).optional(),
        metadata: metadata.optional(),
      })
      .strict()
      .optional(),
    subscription_data: z
      .object({
        description: z.string().max(500).optional(),
        metadata: metadata.optional(),
      })
      .strict()
      .optional(),
    payment_method_types: z.array(z.string().min(1)).min(1).optional(),
    // `hosted` is the name older API versions used for `hosted_page`.
    ui_mode: z
      .enum(["hosted_page", "hosted"], {
        errorMap: () => ({ message: "The Stripe emulator supports only ui_mode=hosted_page" }),
      })
      .optional(),
    locale: z.string().optional(),
    submit_type: z.enum(["auto", "book", "donate", "pay", "subscribe"]).optional(),
    billing_address_collection: z.enum(["auto", "required"]).optional(),
    allow_promotion_codes: formBoolean.optional(),
    expand: expand.optional(),
  })
  .strict();
export type CheckoutSessionCreateParams = z.infer<typeof CheckoutSessionCreateParams>;

export const RefundCreateParams = z
  .object({
    payment_intent: z.string().min(1).optional(),
    charge: z.string().min(1).optional(),
    amount: positiveInteger.optional(),
    reason: z.enum(["duplicate", "fraudulent", "requested_by_customer"]).optional(),
    metadata: metadata.optional(),
    expand: expand.optional(),
  })
  .strict();
export type RefundCreateParams = z.infer<typeof RefundCreateParams>;

/** Test driver: open a dispute on a charge (an inquiry moves no money; a chargeback does). */
export const DisputeCreateInput = z
  .object({
    amount: positiveInteger.optional(),
    inquiry: formBoolean.optional(),
    reason: z
      .enum([
        "bank_cannot_process",
        "credit_not_processed",
        "customer_initiated",
        "debit_not_authorized",
        "duplicate",
        "fraudulent",
        "general",
        "incorrect_account_details",
        "insufficient_funds",
        "product_not_received",
        "product_unacceptable",
        "subscription_canceled",
        "unrecognized",
      ])
      .optional(),
  })
  .strict();
export type DisputeCreateInput = z.infer<typeof DisputeCreateInput>;

/** Test driver: the bank's decision. `won`/`lost` for a chargeback; an inquiry needs none. */
export const DisputeCloseInput = z.object({ status: z.enum(["won", "lost", "warning_closed"]).optional() }).strict();
export type DisputeCloseInput = z.infer<typeof DisputeCloseInput>;

export const PaymentOutcome = z.enum(["paid", "delayed_success", "delayed_failure", "no_payment_required"]);
export type PaymentOutcome = z.infer<typeof PaymentOutcome>;

/** A test card by number (`4000002760003184`) or by Stripe's test PaymentMethod id (`pm_card_visa`). */
export const TestCardInput = z
  .string()
  .refine((value) => findTestCard(value) !== undefined, {
    message: `not one of the emulator's test cards (${TEST_CARDS.map((card) => card.number).join(", ")})`,
  });

export const PayInput = z.object({ outcome: PaymentOutcome.default("paid"), card: TestCardInput.optional() }).strict();

/** Test driver: a card payment for something the app never sold (another product, same account). */
export const UnrelatedPaymentInput = z
  .object({
    amount: positiveInteger.default(2500),
    currency: z
      .string()
      .regex(/^[a-zA-Z]{3}$/, "a three-letter ISO currency code")
      .transform((value) => value.toLowerCase())
      .default("usd"),
    customer: z.string().min(1).optional(),
    email: z.string().email().optional(),
    description: z.string().max(1000).optional(),
  })
  .strict()
  .refine((input) => !(input.customer && input.email), {
    message: "give either customer (an existing one) or email (for a new one), not both",
    path: ["email"],
  });
export type UnrelatedPaymentInput = z.infer<typeof UnrelatedPaymentInput>;

/** Parses request parameters, answering a Stripe-shaped 400 that names the first bad parameter. */
export function parseParams<S extends z.ZodTypeAny>(schema: S, params: unknown): z.infer<S> {
  const result = schema.safeParse(params);
  if (result.success) return result.data as z.infer<S>;
  const issue = result.error.issues[0];
  if (issue.code === "unrecognized_keys") {
    const param = paramName([...issue.path, issue.keys[0]]);
    throw invalidRequest(
      `Received unknown parameter: ${param} (the Stripe emulator accepts only the parameters listed in docs/decisions/005-stripe-emulator.md)`,
      { param, code: "parameter_unknown" },
    );
  }
  const param = paramName(issue.path);
  if (issue.code === "invalid_type" && issue.received === "undefined") {
    throw invalidRequest(`Missing required param: ${param}.`, { param, code: "parameter_missing" });
  }
  throw invalidRequest(`Invalid ${param}: ${describeInvalid(issue)}`, { param });
}

function describeInvalid(issue: z.ZodIssue): string {
  if (issue.code === "invalid_union") {
    const nested = issue.unionErrors.flatMap((error) => error.issues).find((inner) => inner.message);
    return nested?.message ?? issue.message;
  }
  return issue.message;
}
