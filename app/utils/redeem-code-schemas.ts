import { z } from "zod";
import { DURATION_HINT, parseDuration } from "./duration";
import { FormTokenSchema } from "./admin-schemas";

// Redeem codes (docs/decisions/024-redeem-codes.md): the one normalisation of a code's text, and
// the schemas of the admin's create/disable forms and of a redemption (form and JSON). Shared by
// the server and the browser (Conform), so this module must not import server code.

/** Generated codes use letters and digits nobody confuses when reading them aloud or off a card:
 * no 0/O, 1/I/L, and no U (so no accidental words). 30 symbols, 12 of them: about 59 bits. */
export const CODE_ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ23456789";
export const GENERATED_CODE_LENGTH = 12;
/** A code an admin types: short ones are guessable, long ones are typos. */
export const CODE_MIN_LENGTH = 6;
export const CODE_MAX_LENGTH = 32;
/** Longer input than this is refused before it is even normalised. */
const CODE_INPUT_MAX = 100;

/** No code grants more than this per redemption: anything larger is a typo. */
export const MAX_CODE_CREDITS = 100_000;
export const MAX_REDEMPTIONS = 1_000_000;
/** Above this many credits in total (credits × redemptions) the admin must tick "I confirm". */
export const LARGE_CODE_TOTAL = 10_000;
/** Credits that live less than this are a typo ("1s" for "1d"), not a promotion. */
export const MIN_CODE_LIFETIME_MS = 60 * 60 * 1000;

/**
 * The canonical form of a code, the same for creating and redeeming: Unicode compatibility forms
 * folded (a full-width "ＡＢＣ" is "ABC"), upper case, whitespace and dashes dropped. Anything but
 * A–Z and 0–9 left over (a Cyrillic "А", "%", a NUL byte) makes it invalid: null.
 */
export function normalizeCode(raw: string): string | null {
  if (raw.length > CODE_INPUT_MAX) return null;
  const folded = raw.normalize("NFKC").toUpperCase().replace(/[\s\p{Pd}]+/gu, "");
  return /^[A-Z0-9]+$/.test(folded) && folded.length <= CODE_MAX_LENGTH ? folded : null;
}

/** How a code is shown: a generated one in groups of four (ABCD-EFGH-JKMN), any other as typed. */
export function formatCode(code: string): string {
  const generated = code.length === GENERATED_CODE_LENGTH && [...code].every((c) => CODE_ALPHABET.includes(c));
  return generated ? code.match(/.{4}/g)!.join("-") : code;
}

const CODE_FORMAT_MESSAGE = `A code is ${CODE_MIN_LENGTH} to ${CODE_MAX_LENGTH} letters (A–Z) and digits; dashes and spaces are ignored.`;

/** What a user types (the billing form) or sends (POST /api/redeem): a code, normalised. */
export const RedeemCodeSchema = z.object({
  code: z
    .string({ required_error: "Enter a code.", invalid_type_error: "The code must be text." })
    .refine((v) => v.trim() !== "", "Enter a code.")
    .transform((v, ctx) => {
      const code = normalizeCode(v);
      if (code && code.length >= CODE_MIN_LENGTH) return code;
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: CODE_FORMAT_MESSAGE });
      return z.NEVER;
    }),
});
export type RedeemCodeInput = z.infer<typeof RedeemCodeSchema>;

/** The billing page's form: the same, with its intent. */
export const RedeemCodeFormSchema = RedeemCodeSchema.extend({ intent: z.literal("redeem") });

const WHOLE_NUMBER = /^\d{1,16}$/;

/** The one rule for a code's "large total": the schema below enforces it, the form mirrors it. */
export function isLargeCodeTotal(credits: number, maxRedemptions: number): boolean {
  return credits * maxRedemptions > LARGE_CODE_TOTAL;
}

/** Whether what is typed so far makes a large total: the create form shows its box only then (decision 032). */
export function typedCodeTotalIsLarge(credits: string | undefined, maxRedemptions: string | undefined): boolean {
  const [c, m] = [(credits ?? "").trim(), (maxRedemptions ?? "").trim()];
  return WHOLE_NUMBER.test(c) && WHOLE_NUMBER.test(m) && isLargeCodeTotal(Number(c), Number(m));
}

const wholeNumber = (what: string, min: number, max: number) =>
  z
    .string({ required_error: `Enter ${what}.` })
    .trim()
    .regex(WHOLE_NUMBER, `Enter ${what} as a whole number (no decimals, signs or units).`)
    .transform(Number)
    .refine((n) => n >= min && n <= max, `${what[0]!.toUpperCase()}${what.slice(1)} must be between ${min.toLocaleString("en-US")} and ${max.toLocaleString("en-US")}.`);

/** "2027-01-31" (the end of that day, UTC) or "2027-01-31 18:00" / "2027-01-31T18:00" (UTC): milliseconds. */
export function parseUtcUntil(text: string): number | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?)?$/.exec(text.trim());
  if (!m) return null;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const timed = m[4] !== undefined;
  const [h, mi, s] = timed ? [Number(m[4]), Number(m[5]), Number(m[6] ?? 0)] : [23, 59, 59];
  const ms = Date.UTC(y, mo - 1, d, h, mi, s, timed ? 0 : 999);
  const back = new Date(ms);
  // Date.UTC rolls 2027-02-30 over to March: refuse a date that does not exist.
  if (back.getUTCFullYear() !== y || back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d || h > 23 || mi > 59 || s > 59) return null;
  return ms;
}

/** The admin's "create a code" form. `now` judges "until" (the server's clock; the browser's is a hint). */
export function createRedeemCodeSchema(now: () => number = Date.now) {
  return z
    .object({
      intent: z.literal("create"),
      token: FormTokenSchema,
      code: z
        .string()
        .optional()
        .transform((v, ctx) => {
          if (v === undefined || v.trim() === "") return null; // generated
          const code = normalizeCode(v);
          if (code && code.length >= CODE_MIN_LENGTH) return code;
          ctx.addIssue({ code: z.ZodIssueCode.custom, message: `${CODE_FORMAT_MESSAGE} Leave it empty to generate one.` });
          return z.NEVER;
        }),
      credits: wholeNumber("the credits per redemption", 1, MAX_CODE_CREDITS),
      maxRedemptions: wholeNumber("how many times the code may be used", 1, MAX_REDEMPTIONS),
      // How long the redeemed credits stay spendable: "30d"; empty, 0 or never: for ever.
      creditsExpireAfter: z
        .string()
        .optional()
        .transform((v, ctx) => {
          if (v === undefined || v.trim() === "") return null;
          const parsed = parseDuration(v);
          if (!parsed.ok) {
            ctx.addIssue({ code: z.ZodIssueCode.custom, message: `Credits expire after: ${DURATION_HINT}, at most 3650d.` });
            return z.NEVER;
          }
          if (parsed.ms !== null && parsed.ms < MIN_CODE_LIFETIME_MS) {
            ctx.addIssue({ code: z.ZodIssueCode.custom, message: "Credits expire after: at least 1h (or empty for never)." });
            return z.NEVER;
          }
          return parsed.ms;
        }),
      redeemableUntil: z
        .string()
        .optional()
        .transform((v, ctx) => {
          if (v === undefined || v.trim() === "") return null;
          const until = parseUtcUntil(v);
          if (until === null) {
            ctx.addIssue({ code: z.ZodIssueCode.custom, message: "Redeemable until: a date like 2027-01-31 or 2027-01-31 18:00 (UTC)." });
            return z.NEVER;
          }
          if (until <= now()) {
            ctx.addIssue({ code: z.ZodIssueCode.custom, message: "Redeemable until must be in the future." });
            return z.NEVER;
          }
          return until;
        }),
      confirmLarge: z.boolean().optional(),
    })
    .superRefine((value, ctx) => {
      if (isLargeCodeTotal(value.credits, value.maxRedemptions) && !value.confirmLarge) {
        ctx.addIssue({
          code: z.ZodIssueCode.custom,
          path: ["confirmLarge"],
          message: `This code can give ${(value.credits * value.maxRedemptions).toLocaleString("en-US")} credits in all (more than ${LARGE_CODE_TOTAL.toLocaleString("en-US")}): tick the box to confirm.`,
        });
      }
    });
}
export type CreateRedeemCode = z.infer<ReturnType<typeof createRedeemCodeSchema>>;

/** The confirm step of disabling a code. */
export const DisableRedeemCodeSchema = z.object({
  intent: z.literal("disable"),
  codeId: z.coerce
    .number({ invalid_type_error: "Choose a code to disable." })
    .int("Choose a code to disable.")
    .positive("Choose a code to disable.")
    .max(Number.MAX_SAFE_INTEGER, "Choose a code to disable."),
});

/** A lifetime as the form takes it: the largest unit that divides it (30d, 12h, 90m), or "never". */
export function formatLifetime(ms: number | null): string {
  if (ms === null) return "never";
  const units: Array<[string, number]> = [["d", 86_400_000], ["h", 3_600_000], ["m", 60_000], ["s", 1_000]];
  for (const [unit, size] of units) if (ms % size === 0) return `${ms / size}${unit}`;
  return `${ms}ms`;
}
