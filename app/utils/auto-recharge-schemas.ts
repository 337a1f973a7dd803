import { z } from "zod";

// Auto-recharge settings (decision 027): the JSON of PUT /api/auto-recharge and the billing
// page's form (Conform, in the browser too), so this module must not import server code.

/** Above this the threshold is a typo: no pack is that large. */
export const MAX_THRESHOLD = 1_000_000;
export const MAX_RECHARGES_PER_MONTH = 1000;
/** In minor units ($100,000.00). */
export const MAX_AMOUNT_PER_MONTH = 10_000_000;

const threshold = z
  .number({ message: "thresholdCredits must be a positive whole number" })
  .int("thresholdCredits must be a positive whole number")
  .positive("thresholdCredits must be a positive whole number")
  .max(MAX_THRESHOLD, `thresholdCredits must be at most ${MAX_THRESHOLD}`);
const pack = z.string({ message: "pack must be a pack id" }).trim().min(1, "pack must be a pack id").max(32, "pack must be a pack id");

export const AutoRechargeJsonSchema = z
  .object({
    enabled: z.boolean({ message: "enabled must be true or false" }),
    thresholdCredits: threshold,
    pack,
    maxRechargesPerMonth: z
      .number({ message: "maxRechargesPerMonth must be a positive whole number or null" })
      .int("maxRechargesPerMonth must be a positive whole number or null")
      .positive("maxRechargesPerMonth must be a positive whole number or null")
      .max(MAX_RECHARGES_PER_MONTH)
      .nullable()
      .default(null),
    maxAmountPerMonth: z
      .number({ message: "maxAmountPerMonth must be a positive whole number of cents or null" })
      .int("maxAmountPerMonth must be a positive whole number of cents or null")
      .positive("maxAmountPerMonth must be a positive whole number of cents or null")
      .max(MAX_AMOUNT_PER_MONTH)
      .nullable()
      .default(null),
  })
  .strict();

const wholeText = (label: string, max: number) =>
  z
    .string({ message: `Enter ${label}` })
    .trim()
    .regex(/^[1-9][0-9]{0,8}$/, `${label[0].toUpperCase()}${label.slice(1)} must be a positive whole number`)
    .transform(Number)
    .refine((n) => n <= max, `At most ${max}`);

/** The form: a checkbox, whole numbers as text, the money cap in dollars (empty: no cap). */
export const AutoRechargeFormSchema = z.object({
  intent: z.literal("auto-recharge"),
  enabled: z.literal("on").optional().transform((v) => v === "on"),
  thresholdCredits: wholeText("the threshold", MAX_THRESHOLD),
  pack,
  maxRechargesPerMonth: wholeText("the number of recharges", MAX_RECHARGES_PER_MONTH).optional().transform((v) => v ?? null),
  maxDollarsPerMonth: z
    .string()
    .trim()
    .regex(/^[0-9]{1,6}(\.[0-9]{1,2})?$/, "Enter an amount such as 20 or 20.50")
    .transform((v) => Math.round(Number(v) * 100))
    .refine((n) => n > 0, "The amount must be more than 0")
    .optional()
    .transform((v) => v ?? null),
});
