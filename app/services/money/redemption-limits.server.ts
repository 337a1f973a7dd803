/**
 * How often one may try codes: a guess takes a point per account and per client IP BEFORE the code
 * is looked up, so parallel guesses cannot slip past the count; a redemption that succeeds (or is
 * refused for the account's own state, which says nothing about codes) gives both back. So the
 * points held are the failed tries, and past either limit every try — a right code included — is
 * refused until the window ends. Built on the attempt limiter (decision 013), in the limiter
 * store (memory, or Redis shared by every instance: decision 033). Its own limits: turning off the capacity limits (RATE_LIMIT_DISABLED)
 * must not turn off what stops people from guessing codes. See docs/decisions/024-redeem-codes.md.
 */
import { consumeAttempts, createAttemptLimiter, refundAttempts, type AttemptCheck } from "../attempt-limit.server";
import type { Config } from "../env.server";
import { limiterStoreFor, type LimiterStore } from "../limiter-store.server";
import { logger } from "../logger.server";
import { incrementCounter } from "../metrics.server";

export type RedeemLimits = { failuresPerUser: number; failuresPerIp: number; windowSeconds: number };

export type RedeemRefused = { ok: false; reason: "rate_limited"; retryAfterSeconds: number; message: string };
export type RedeemAttempt = { ok: true; release(): Promise<void> };

export type RedeemLimiter = {
  readonly limits: RedeemLimits;
  /** Takes the try's points (per user, per IP), or refuses the try. */
  begin(userId: number, ip: string): Promise<RedeemAttempt | RedeemRefused>;
};

export function createRedeemLimiter(limits: RedeemLimits, store: LimiterStore): RedeemLimiter {
  const byUser = createAttemptLimiter({ name: "redeem-user", points: limits.failuresPerUser, windowSeconds: limits.windowSeconds, store });
  const byIp = createAttemptLimiter({ name: "redeem-ip", points: limits.failuresPerIp, windowSeconds: limits.windowSeconds, store });
  return {
    limits,
    async begin(userId, ip) {
      const checks: AttemptCheck[] = [
        [byUser, String(userId)],
        [byIp, ip],
      ];
      const verdict = await consumeAttempts(checks);
      if (verdict.ok) return { ok: true, release: () => refundAttempts(checks) };
      incrementCounter("security_refusals_total", { reason: "redeem_rate_limit" });
      logger.warn({ userId, ip, retryAfterSeconds: verdict.retryAfterSeconds }, "redeem attempt limit reached");
      const minutes = Math.ceil(verdict.retryAfterSeconds / 60);
      return { ...verdict, message: `Too many codes tried that did not work. Try again in ${minutes <= 1 ? "a minute" : `${minutes} minutes`}.` };
    },
  };
}

let current: { config: Config; limiter: RedeemLimiter } | undefined;

/** The process's limiter, made once per config (the runtime's). */
export function getRedeemLimiter(config: Config): RedeemLimiter {
  if (!current || current.config !== config) {
    current = {
      config,
      limiter: createRedeemLimiter({ failuresPerUser: config.REDEEM_FAILURES_PER_USER, failuresPerIp: config.REDEEM_FAILURES_PER_IP, windowSeconds: 3600 }, limiterStoreFor(config)),
    };
  }
  return current.limiter;
}
