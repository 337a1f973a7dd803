/**
 * How often a verification mail may be sent again: per account and per client IP, the point taken
 * BEFORE anything is queued, so N parallel clicks queue at most the allowance. Follows
 * AUTH_RATE_LIMIT_DISABLED like the other account limits (tests that sign up many accounts from
 * one address turn them all off together; the limits have their own tests with it on).
 */
import { consumeAttempts, createAttemptLimiter, type AttemptLimiter, type AttemptVerdict } from "../attempt-limit.server";
import type { Config } from "../env.server";
import { limiterStoreFor, type LimiterStore } from "../limiter-store.server";
import { logger } from "../logger.server";
import { incrementCounter } from "../metrics.server";

export const RESENDS_PER_ACCOUNT_PER_HOUR = 3;
export const RESENDS_PER_IP_PER_HOUR = 20;

export type ResendLimiter = { check(userId: number, ip: string): Promise<AttemptVerdict> };

export function createResendLimiter(disabled: boolean, store: LimiterStore): ResendLimiter {
  const byAccount: AttemptLimiter = createAttemptLimiter({ name: "verify-resend-account", points: RESENDS_PER_ACCOUNT_PER_HOUR, windowSeconds: 3600, store });
  const byIp: AttemptLimiter = createAttemptLimiter({ name: "verify-resend-ip", points: RESENDS_PER_IP_PER_HOUR, windowSeconds: 3600, store });
  return {
    async check(userId, ip) {
      if (disabled) return { ok: true };
      const verdict = await consumeAttempts([
        [byAccount, String(userId)],
        [byIp, ip],
      ]);
      if (!verdict.ok) {
        incrementCounter("security_refusals_total", { reason: "verify_resend_rate_limit" });
        logger.warn({ ip, userId, retryAfterSeconds: verdict.retryAfterSeconds }, "verification resend limit reached");
      }
      return verdict;
    },
  };
}

let current: { config: Config; limiter: ResendLimiter } | undefined;

/** The process's limiter, made once per config (the runtime's). */
export function getResendLimiter(config: Config): ResendLimiter {
  if (!current || current.config !== config) current = { config, limiter: createResendLimiter(config.AUTH_RATE_LIMIT_DISABLED, limiterStoreFor(config)) };
  return current.limiter;
}
