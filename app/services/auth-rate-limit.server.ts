/**
 * Brute-force protection for /login and /signup, built on the attempt limiter.
 *
 * - A log-in attempt takes a point per account (the email, whether or not it exists, so the limit
 *   says nothing about which emails are registered) and per client IP BEFORE the password is
 *   checked; a successful log-in gives both points back. So the points held are the failures plus
 *   the attempts still in flight, and past either limit every attempt, the right password
 *   included, is refused with 429 and Retry-After without checking anything, however many arrive
 *   at once. The lock lasts the window.
 * - Sign-ups take a point per IP and per email address; every well-formed attempt counts.
 *
 * Separate from the generation limits and from RATE_LIMIT_DISABLED on purpose: turning off the
 * capacity limits for a benchmark must not turn off a security control. AUTH_RATE_LIMIT_DISABLED
 * is its own switch (tests that create many accounts from one address use it).
 * See docs/decisions/013-auth-attempt-limits.md.
 */
import { consumeAttempts, createAttemptLimiter, refundAttempts, type AttemptCheck } from "./attempt-limit.server";
import type { Config } from "./env.server";
import { limiterStoreFor, type LimiterStore } from "./limiter-store.server";
import { logger } from "./logger.server";
import { incrementCounter } from "./metrics.server";

export type AuthLimits = {
  disabled: boolean;
  loginFailuresPerAccount: number;
  loginFailuresPerIp: number;
  signupsPerIpPerHour: number;
  /** Sign-up attempts for one email per hour. */
  signupsPerEmailPerHour: number;
  /** Window and lock-out of the log-in counters, seconds. */
  loginWindowSeconds: number;
};

export type Refusal = { ok: false; reason: "rate_limited"; retryAfterSeconds: number; message: string };

const LOGIN_WINDOW_SECONDS = 15 * 60;

export function authLimitsFromConfig(config: Config): AuthLimits {
  return {
    disabled: config.AUTH_RATE_LIMIT_DISABLED,
    loginFailuresPerAccount: config.AUTH_LOGIN_FAILURES_PER_ACCOUNT,
    loginFailuresPerIp: config.AUTH_LOGIN_FAILURES_PER_IP,
    signupsPerIpPerHour: config.AUTH_SIGNUPS_PER_IP_PER_HOUR,
    signupsPerEmailPerHour: 5,
    loginWindowSeconds: LOGIN_WINDOW_SECONDS,
  };
}

function wait(seconds: number): string {
  const minutes = Math.ceil(seconds / 60);
  return minutes <= 1 ? "a minute" : `${minutes} minutes`;
}

const TOO_MANY_LOGINS = "Too many failed log-in attempts.";
const TOO_MANY_SIGNUPS = "Too many sign-up attempts from this network.";

export type AuthRateLimiter = ReturnType<typeof createAuthRateLimiter>;
/** What a log-in attempt holds until it is known to have succeeded. */
export type LoginAttempt = { ok: true; succeeded(): Promise<void> };

export function createAuthRateLimiter(limits: AuthLimits, store: LimiterStore) {
  const window = limits.loginWindowSeconds;
  const loginByAccount = createAttemptLimiter({ name: "login-account", points: limits.loginFailuresPerAccount, windowSeconds: window, store });
  const loginByIp = createAttemptLimiter({ name: "login-ip", points: limits.loginFailuresPerIp, windowSeconds: window, store });
  const signupByIp = createAttemptLimiter({ name: "signup-ip", points: limits.signupsPerIpPerHour, windowSeconds: 3600, store });
  const signupByEmail = createAttemptLimiter({ name: "signup-email", points: limits.signupsPerEmailPerHour, windowSeconds: 3600, store });

  async function attempt(kind: "login" | "signup", ip: string, checks: AttemptCheck[], what: string): Promise<Refusal | null> {
    const verdict = await consumeAttempts(checks);
    if (verdict.ok) return null;
    incrementCounter("security_refusals_total", { reason: `${kind}_rate_limit` });
    logger.warn({ ip, kind, retryAfterSeconds: verdict.retryAfterSeconds }, "auth rate limit reached");
    return { ...verdict, message: `${what} Try again in ${wait(verdict.retryAfterSeconds)}.` };
  }

  return {
    limits,

    /**
     * Before checking a password: takes the attempt's points, or refuses it. Call `succeeded()`
     * once the password was right; a wrong one keeps its points.
     */
    async beginLogin(ip: string, email: string): Promise<LoginAttempt | Refusal> {
      const checks: AttemptCheck[] = [
        [loginByAccount, email],
        [loginByIp, ip],
      ];
      if (limits.disabled) return { ok: true, succeeded: async () => {} };
      const refused = await attempt("login", ip, checks, TOO_MANY_LOGINS);
      return refused ?? { ok: true, succeeded: () => refundAttempts(checks) };
    },

    /** Every well-formed sign-up attempt counts, per IP and per email. */
    async consumeSignup(ip: string, email: string): Promise<Refusal | null> {
      if (limits.disabled) return null;
      return attempt(
        "signup",
        ip,
        [
          [signupByIp, ip],
          [signupByEmail, email],
        ],
        TOO_MANY_SIGNUPS,
      );
    },
  };
}

let current: { config: Config; limiter: AuthRateLimiter } | undefined;

/** The process's limiter, made once per config (the runtime's). */
export function getAuthRateLimiter(config: Config): AuthRateLimiter {
  if (!current || current.config !== config) current = { config, limiter: createAuthRateLimiter(authLimitsFromConfig(config), limiterStoreFor(config)) };
  return current.limiter;
}

/** Headers of a 429 answer. */
export function retryAfterHeaders(r: { retryAfterSeconds: number }): HeadersInit {
  return { "Retry-After": String(r.retryAfterSeconds), "Cache-Control": "no-store" };
}
