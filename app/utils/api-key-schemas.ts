import { z } from "zod";

// API keys: their format, the Authorization header that carries one, and what an owner may ask
// for when creating one. Shared by the JSON API, the /settings/api-keys page (Conform, also in
// the browser) and the service, so it must not live in a *.server.ts module.

/** `csk_` and 32 random bytes in base64url (43 characters). */
export const API_KEY_PATTERN = /^csk_[A-Za-z0-9_-]{43}$/;
/** How much of a key its owner sees again after creating it: enough to tell keys apart, far too
 * little to guess the rest (39 unknown base64url characters remain). */
export const API_KEY_PREFIX_LENGTH = 12;
export const API_KEY_NAME_MAX = 60;
/** A product limit on one key's month, far below the ledger's largest single amount. */
export const API_KEY_MONTHLY_LIMIT_MAX = 100_000_000;

/**
 * The key in an `Authorization` header, or null when the header carries none that could be ours.
 * The scheme is case-insensitive (RFC 9110 §11.1), exactly one space follows it, and the rest
 * must be a whole key: anything else is refused rather than repaired. Surrounding whitespace is
 * already gone: HTTP strips it from every header value.
 */
export function bearerKeyOf(header: string): string | null {
  if (header.length > 7 + 4 + 43) return null;
  const match = /^Bearer (\S+)$/i.exec(header);
  return match && API_KEY_PATTERN.test(match[1]) ? match[1] : null;
}

// Control characters, and the invisible format characters (bidi overrides, zero-width) that
// would make one key's name look like another's in the list and in the history.
const INVISIBLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;

export const ApiKeyNameSchema = z
  .string({ required_error: "A name is required", invalid_type_error: "The name must be text" })
  .trim()
  .min(1, "A name is required")
  .max(API_KEY_NAME_MAX, `The name must be at most ${API_KEY_NAME_MAX} characters`)
  .refine((name) => !INVISIBLE.test(name), "The name must not contain control or invisible characters");

const limitMessage = `The monthly limit must be a whole number of credits from 1 to ${API_KEY_MONTHLY_LIMIT_MAX.toLocaleString("en-US")}`;

export const MonthlyLimitSchema = z
  .number({ invalid_type_error: limitMessage })
  .int(limitMessage)
  .min(1, limitMessage)
  .max(API_KEY_MONTHLY_LIMIT_MAX, limitMessage);

/** POST /api/keys (JSON): no other field; a limit that is absent or null means no limit. */
export const ApiKeyCreateSchema = z
  .object({ name: ApiKeyNameSchema, monthlyCreditLimit: MonthlyLimitSchema.nullable().optional() })
  .strict();

/** The page's form (Conform turns the number field's text into a number, "" into undefined). */
export const ApiKeyCreateFormSchema = z.object({ intent: z.literal("create"), name: ApiKeyNameSchema, monthlyCreditLimit: MonthlyLimitSchema.optional() });

export const ApiKeyRevokeFormSchema = z.object({ intent: z.literal("revoke"), id: z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER) });

/** An id in a URL (/api/keys/:id). */
export const ApiKeyIdSchema = z.string().regex(/^[1-9]\d{0,15}$/).transform(Number);
