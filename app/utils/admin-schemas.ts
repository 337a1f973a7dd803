import { z } from "zod";
import { DURATION_HINT, parseDuration } from "./duration";

// The admin console's forms and query strings. Shared by the server (actions, loaders) and the
// browser (Conform's client-side validation), so this module must not import server code.

/** A signed whole number written by a person: "250", "-40", "+1000". Not "1.5", "1e3" or "0x10". */
const AMOUNT_PATTERN = /^[+-]?\d{1,16}$/;

/** Above this many credits (either sign) a change needs the "I confirm" box ticked. */
export const LARGE_ADJUSTMENT = 1_000;
/** What the server answers to a large change sent without the box ticked (decision 032). */
export const LARGE_CHANGE_MESSAGE = "This is a large change: tick to confirm.";

/** The one rule for "large": the schema below enforces it, the form only mirrors it. */
export function isLargeAdjustment(amount: number, threshold = LARGE_ADJUSTMENT): boolean {
  return Math.abs(amount) > threshold;
}

/** Whether what an admin has typed so far is a large change: the form shows the box only then. */
export function typedAmountIsLarge(text: string | undefined, threshold = LARGE_ADJUSTMENT): boolean {
  const trimmed = (text ?? "").trim();
  return AMOUNT_PATTERN.test(trimmed) && isLargeAdjustment(Number(trimmed), threshold);
}
/** No single manual change moves more than this: anything larger is a typo. */
export const MAX_ADJUSTMENT = 1_000_000;

export const ADJUSTMENT_TYPES = ["adjustment", "bonus"] as const;
export type AdjustmentType = (typeof ADJUSTMENT_TYPES)[number];

/** The random token rendered in a form: the ledger key of the change it makes (double submit = replay). */
export const FormTokenSchema = z
  .string({ required_error: "This form has expired: reload the page." })
  .regex(/^[A-Za-z0-9_-]{16,64}$/, "This form has expired: reload the page.");

const ReasonSchema = z
  .string({ required_error: "A reason is required: it is kept in the audit log." })
  .trim()
  .min(3, "A reason is required: at least 3 characters, kept in the audit log.")
  .max(500, "Keep the reason under 500 characters.");

const CreditsAmountSchema = z
  .string({ required_error: "Enter an amount of credits, e.g. 100 or -50." })
  .trim()
  .regex(AMOUNT_PATTERN, "Enter a whole number of credits, e.g. 100 or -50 (no decimals, no units).")
  .transform(Number)
  .refine((n) => n !== 0, "The amount cannot be zero.")
  .refine((n) => Math.abs(n) <= MAX_ADJUSTMENT, `At most ${MAX_ADJUSTMENT.toLocaleString("en-US")} credits in one change.`);

export const AdjustCreditsSchema = z
  .object({
    intent: z.literal("adjust"),
    token: FormTokenSchema,
    amount: CreditsAmountSchema,
    type: z.enum(ADJUSTMENT_TYPES, {
      errorMap: () => ({ message: "Choose a bonus (adds credits) or an adjustment (adds or removes)." }),
    }),
    reason: ReasonSchema,
    confirmLarge: z.boolean().optional(),
    // A bonus may expire: "30d", "12h"; empty: never. Milliseconds (null: never) after parsing.
    expiresAfter: z
      .string()
      .optional()
      .transform((v, ctx) => {
        if (v === undefined || v.trim() === "") return null;
        const parsed = parseDuration(v);
        if (parsed.ok) return parsed.ms;
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: `Expires after: ${DURATION_HINT}.` });
        return z.NEVER;
      }),
  })
  .superRefine((value, ctx) => {
    if (value.expiresAfter != null && value.type !== "bonus") {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ["expiresAfter"], message: "Only a bonus can expire: leave this empty for an adjustment." });
    }
    if (value.type === "bonus" && value.amount < 0) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ["amount"],
        message: "A bonus adds credits: to remove credits choose the type adjustment.",
      });
    }
    if (isLargeAdjustment(value.amount) && !value.confirmLarge) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ["confirmLarge"], message: LARGE_CHANGE_MESSAGE });
    }
  });
export type AdjustCredits = z.infer<typeof AdjustCreditsSchema>;

/** A refund amount as a person writes it, in the currency's major unit: "2.50", "3", "0.5". */
const REFUND_AMOUNT_PATTERN = /^\d{1,9}(\.\d{1,2})?$/;

/** "2.50" → 250. Parsed from the digits, not through a float, so "0.29" is 29 and never 28.999…. */
export function majorToMinor(text: string): number {
  const [whole, fraction = ""] = text.split(".");
  return Number(whole) * 100 + Number(fraction.padEnd(2, "0"));
}

/**
 * The refund form. `leftByPurchase` (minor units still refundable per purchase id) lets the same
 * rule run in the browser and on the server; the service checks it again against the database.
 * Amounts assume a currency with two decimals (the packs are priced in USD/EUR-like currencies).
 */
export function refundPurchaseSchema(leftByPurchase: Readonly<Record<number, number | null>> = {}) {
  return z
    .object({
      intent: z.literal("refund"),
      token: FormTokenSchema,
      transactionId: z
        .number({ required_error: "Choose the purchase to refund.", invalid_type_error: "Choose the purchase to refund." })
        .int()
        .positive("Choose the purchase to refund."),
      amount: z
        .string()
        .trim()
        .regex(REFUND_AMOUNT_PATTERN, "Enter an amount like 2.50 (at most 2 decimals, no currency sign), or leave it empty for a full refund.")
        .transform(majorToMinor)
        .refine((cents) => cents > 0, "The amount must be more than zero (leave it empty for a full refund).")
        .optional(),
      reason: ReasonSchema,
    })
    .superRefine((value, ctx) => {
      const left = leftByPurchase[value.transactionId];
      if (value.amount !== undefined && typeof left === "number" && value.amount > left) {
        ctx.addIssue({
          code: z.ZodIssueCode.custom,
          path: ["amount"],
          message: `At most ${(left / 100).toFixed(2)} is left to refund on this purchase.`,
        });
      }
    });
}
export const RefundPurchaseSchema = refundPurchaseSchema();
export type RefundPurchase = z.infer<typeof RefundPurchaseSchema>;

/** What audit_log.action says for each kind of admin change. */
export const AUDIT_ACTIONS = {
  adjust: "credits.adjust",
  refund: "purchase.refund",
  placeHold: "account.hold",
  liftHold: "account.lift_hold",
  mailRetry: "mail.retry",
  resendVerification: "email.verification_resent",
  // Redeem codes (decision 024): an admin creates or disables one; a user redeems one (the
  // actor is then the user).
  codeCreate: "redeem_code.create",
  codeDisable: "redeem_code.disable",
  codeRedeem: "redeem_code.redeem",
} as const;

/** The "retry now" form of /admin/mail: which failed message to queue again. */
export const MailRetrySchema = z.object({
  intent: z.literal("retry"),
  mailId: z.coerce
    .number({ invalid_type_error: "Choose a message to retry." })
    .int("Choose a message to retry.")
    .positive("Choose a message to retry.")
    .max(Number.MAX_SAFE_INTEGER, "Choose a message to retry."),
});

/** The user page has two forms; the `intent` field says which one was sent. */
export const ADMIN_USER_INTENTS = ["adjust", "refund", "resend_verification"] as const;

// ---------------------------------------------------------------------------------------------
// Query strings (links and GET forms). A bad value falls back to the default instead of failing.

export const USER_SORTS = ["created", "email", "credits"] as const;
export type UserSort = (typeof USER_SORTS)[number];
export const SORT_DIRECTIONS = ["asc", "desc"] as const;
export type SortDirection = (typeof SORT_DIRECTIONS)[number];

export const UserListQuerySchema = z.object({
  q: z
    .string()
    .trim()
    .toLowerCase()
    .max(254)
    .optional()
    .catch(undefined)
    .transform((v) => (v ? v : undefined)),
  sort: z.enum(USER_SORTS).catch("created"),
  dir: z.enum(SORT_DIRECTIONS).optional().catch(undefined),
  after: z.string().max(400).optional().catch(undefined),
  before: z.string().max(400).optional().catch(undefined),
});
export type UserListQuery = z.infer<typeof UserListQuerySchema>;

export const AuditQuerySchema = z.object({
  user: z.coerce.number().int().positive().optional().catch(undefined),
  older: z.coerce.number().int().positive().optional().catch(undefined),
});

export const UserIdSchema = z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER);

/** Putting an account on hold, or lifting the hold: what and why (the reason is audited). */
export const AccountHoldSchema = z.object({
  intent: z.enum(["place", "lift"], { errorMap: () => ({ message: "Choose whether to put the account on hold or lift the hold." }) }),
  reason: ReasonSchema,
});
export type AccountHoldInput = z.infer<typeof AccountHoldSchema>;
