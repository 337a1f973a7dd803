/**
 * Attempt limits for forms that guard something costly or secret: log-in (a password check),
 * sign-up, and later password reset and resend-verification (each sends mail).
 *
 * The point is taken BEFORE the guarded work runs, so N parallel requests cannot all slip past a
 * check that is only counted afterwards; an attempt that turns out fine gives its point back with
 * refundAttempt. Past the limit the key is locked for the whole window (blockDuration), so
 * retrying during the lock does not shorten it.
 *
 * The points live in the limiter store (rate-limiter-flexible): memory for one process on one
 * SQLite file (decision 001), Redis when REDIS_URL is set, shared by every instance (decision 033).
 * See docs/decisions/013-auth-attempt-limits.md.
 */
import { RateLimiterRes } from "rate-limiter-flexible";
import type { LimiterStore } from "./limiter-store.server";

export type AttemptRefused = { ok: false; reason: "rate_limited"; retryAfterSeconds: number };
export type AttemptVerdict = { ok: true } | AttemptRefused;

export type AttemptLimiter = {
  readonly name: string;
  /** Takes one point for `key`; refused (nothing else to do) once the key is past its limit. */
  consumeAttempt(key: string): Promise<AttemptVerdict>;
  /** Gives back the point of an attempt that consumeAttempt accepted. */
  refundAttempt(key: string): Promise<void>;
};

export type AttemptLimitOptions = {
  /** Unique per limiter: it prefixes the keys. */
  name: string;
  /** Attempts allowed per key within the window. */
  points: number;
  windowSeconds: number;
  store: LimiterStore;
};

export function createAttemptLimiter({ name, points, windowSeconds, store }: AttemptLimitOptions): AttemptLimiter {
  const limiter = store.create({ keyPrefix: name, points, duration: windowSeconds, blockDuration: windowSeconds });
  return {
    name,
    async consumeAttempt(key) {
      try {
        await limiter.consume(key);
        return { ok: true };
      } catch (error) {
        if (!(error instanceof RateLimiterRes)) throw error;
        return { ok: false, reason: "rate_limited", retryAfterSeconds: Math.max(1, Math.ceil(error.msBeforeNext / 1000)) };
      }
    },
    async refundAttempt(key) {
      // A key whose window ran out meanwhile has nothing to give back; rewarding it anyway would
      // start a new window with a spare point.
      const current = await limiter.get(key);
      if (current && current.consumedPoints > 0) await limiter.reward(key);
    },
  };
}

export type AttemptCheck = readonly [AttemptLimiter, string];

/**
 * One attempt against several limits (per account and per IP, say): accepted only if every limit
 * accepts it. A refused attempt gives back the points it took from the others, so a locked IP
 * cannot use up an account's allowance; the wait is the longest of the refusals.
 */
export async function consumeAttempts(checks: readonly AttemptCheck[]): Promise<AttemptVerdict> {
  const verdicts = await Promise.all(checks.map(([limiter, key]) => limiter.consumeAttempt(key)));
  const refusals = verdicts.filter((v): v is AttemptRefused => !v.ok);
  if (refusals.length === 0) return { ok: true };
  await Promise.all(checks.filter((_, i) => verdicts[i]!.ok).map(([limiter, key]) => limiter.refundAttempt(key)));
  return { ok: false, reason: "rate_limited", retryAfterSeconds: Math.max(...refusals.map((r) => r.retryAfterSeconds)) };
}

/** Gives back the points of an attempt consumeAttempts accepted. */
export async function refundAttempts(checks: readonly AttemptCheck[]): Promise<void> {
  await Promise.all(checks.map(([limiter, key]) => limiter.refundAttempt(key)));
}
