import { z } from "zod";

// Balance alerts (docs/decisions/028-balance-alerts.md): the threshold as the billing form sends
// it (text; empty = off) and as the JSON API takes it (a number or null). Shared by the server and
// the browser (Conform), so this module must not import server code.

/** Mirrors MAX_ALERT_THRESHOLD in services/alerts/balance-alerts.server.ts (which checks again). */
export const ALERT_THRESHOLD_MAX = 1_000_000;

const RANGE_MESSAGE = `The alert threshold is a whole number of credits from 1 to ${ALERT_THRESHOLD_MAX.toLocaleString("en-US")}.`;

/** The billing page's form: intent=balance-alert; an empty field turns the alert off. */
export const BalanceAlertFormSchema = z.object({
  intent: z.literal("balance-alert"),
  thresholdCredits: z
    .string()
    .optional()
    .transform((v, ctx) => {
      const text = (v ?? "").trim();
      if (text === "") return null;
      if (!/^\d{1,7}$/.test(text)) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: `${RANGE_MESSAGE} No decimals, signs or units; leave it empty to turn the alert off.` });
        return z.NEVER;
      }
      const n = Number(text);
      if (n < 1 || n > ALERT_THRESHOLD_MAX) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: `${RANGE_MESSAGE} Leave it empty to turn the alert off.` });
        return z.NEVER;
      }
      return n;
    }),
});

/** PUT /api/balance-alert: {"thresholdCredits": 1..1000000 | null}; null turns it off. */
export const BalanceAlertJsonSchema = z
  .object({
    thresholdCredits: z
      .number({ required_error: "thresholdCredits is required (a number, or null to turn the alert off).", invalid_type_error: "thresholdCredits must be a number or null." })
      .int(RANGE_MESSAGE)
      .min(1, RANGE_MESSAGE)
      .max(ALERT_THRESHOLD_MAX, RANGE_MESSAGE)
      .nullable(),
  })
  .strict();
