/**
 * The one parser for durations in config (SIGNUP_BONUS_EXPIRES_AFTER, a pack's expiresAfter, the
 * admin form's "expires after", and the operational delays such as MAIL_SEND_INTERVAL): a whole
 * number and one unit, `500ms`, `90s`, `15m`, `12h`, `30d`.
 * `0` and `never` mean no expiry (null). Anything else is refused, never guessed: a typo in a
 * credit's lifetime must stop start-up, not silently grant credits that expire in 30 ms.
 */
const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** Ten years: far past any plan, far below the range where milliseconds lose precision. */
export const MAX_DURATION_MS = 3650 * UNIT_MS.d;

export type ParsedDuration = { ok: true; ms: number | null } | { ok: false; message: string };

export const DURATION_HINT = "a duration like 30d, 12h, 15m or 90s (or 0 / never for no expiry)";

export function parseDuration(value: unknown): ParsedDuration {
  if (typeof value !== "string") return { ok: false, message: `expected ${DURATION_HINT}` };
  const text = value.trim().toLowerCase();
  if (text === "0" || text === "never") return { ok: true, ms: null };
  const match = /^([1-9][0-9]{0,6})(ms|s|m|h|d)$/.exec(text);
  if (!match) return { ok: false, message: `expected ${DURATION_HINT}, got ${JSON.stringify(value)}` };
  const ms = Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
  if (ms > MAX_DURATION_MS) return { ok: false, message: `a duration may be at most 3650d, got ${JSON.stringify(value)}` };
  return { ok: true, ms };
}

/** When credits granted at `from` expire, for a parsed duration (null: never). */
export function expiryAfter(from: number, ms: number | null): number | null {
  return ms === null ? null : from + ms;
}

const UNIT_WORDS = [
  [UNIT_MS.d, "day"],
  [UNIT_MS.h, "hour"],
  [UNIT_MS.m, "minute"],
  [UNIT_MS.s, "second"],
  [UNIT_MS.ms, "millisecond"],
] as const;

/**
 * A lifetime as people read it ("30 days", "12 hours", "1 minute"), in the largest unit that
 * divides it exactly, so what the pricing page says is the configured figure, never a rounding.
 */
export function describeDuration(ms: number): string {
  for (const [unit, word] of UNIT_WORDS) {
    if (ms >= unit && ms % unit === 0) {
      const n = ms / unit;
      return `${n.toLocaleString("en-US")} ${word}${n === 1 ? "" : "s"}`;
    }
  }
  return `${ms} milliseconds`;
}
