/**
 * Attempt limits of the account forms that send mail: "forgot password" (per address and per IP)
 * and "change e-mail" (per account and per IP). Forms that check a password (change password,
 * change e-mail, delete account) take log-in points instead (auth-rate-limit.server.ts
 * `beginLogin`): a wrong current password is a guess like any other.
 *
 * The point is taken BEFORE the lookup, whether or not the address is registered, so the limit
 * says nothing about which addresses exist. AUTH_RATE_LIMIT_DISABLED turns these off too.
 */
import { consumeAttempts, createAttemptLimiter } from "../attempt-limit.server";
import type { Refusal } from "../auth-rate-limit.server";
import type { Config } from "../env.server";
import { limiterStoreFor, type LimiterStore } from "../limiter-store.server";
import { logger } from "../logger.server";
import { incrementCounter } from "../metrics.server";

// A person asks for a reset link a few times at most; more is somebody filling a stranger's inbox.
export const RESETS_PER_ADDRESS_PER_HOUR = 3;
export const RESETS_PER_IP_PER_HOUR = 30;
export const EMAIL_CHANGES_PER_ACCOUNT_PER_HOUR = 5;
export const EMAIL_CHANGES_PER_IP_PER_HOUR = 30;

export type AccountMailLimiter = ReturnType<typeof createAccountMailLimiter>;

export function createAccountMailLimiter(disabled: boolean, store: LimiterStore) {
  const resetByAddress = createAttemptLimiter({ name: "reset-address", points: RESETS_PER_ADDRESS_PER_HOUR, windowSeconds: 3600, store });
  const resetByIp = createAttemptLimiter({ name: "reset-ip", points: RESETS_PER_IP_PER_HOUR, windowSeconds: 3600, store });
  const changeByAccount = createAttemptLimiter({ name: "email-change-account", points: EMAIL_CHANGES_PER_ACCOUNT_PER_HOUR, windowSeconds: 3600, store });
  const changeByIp = createAttemptLimiter({ name: "email-change-ip", points: EMAIL_CHANGES_PER_IP_PER_HOUR, windowSeconds: 3600, store });

  async function take(kind: string, ip: string, checks: Parameters<typeof consumeAttempts>[0]): Promise<Refusal | null> {
    if (disabled) return null;
    const verdict = await consumeAttempts(checks);
    if (verdict.ok) return null;
    incrementCounter("security_refusals_total", { reason: `${kind}_rate_limit` });
    logger.warn({ ip, kind, retryAfterSeconds: verdict.retryAfterSeconds }, "account mail rate limit reached");
    const minutes = Math.max(1, Math.ceil(verdict.retryAfterSeconds / 60));
    return { ...verdict, message: `Too many requests. Try again in ${minutes === 1 ? "a minute" : `${minutes} minutes`}.` };
  }

  return {
    consumeReset: (ip: string, email: string) =>
      take("password_reset", ip, [
        [resetByAddress, email],
        [resetByIp, ip],
      ]),
    consumeEmailChange: (ip: string, userId: number) =>
      take("email_change", ip, [
        [changeByAccount, String(userId)],
        [changeByIp, ip],
      ]),
  };
}

let current: { config: Config; limiter: AccountMailLimiter } | undefined;

/** The process's limiter, made once per config (the runtime's). */
export function getAccountMailLimiter(config: Config): AccountMailLimiter {
  if (!current || current.config !== config) current = { config, limiter: createAccountMailLimiter(config.AUTH_RATE_LIMIT_DISABLED, limiterStoreFor(config)) };
  return current.limiter;
}
