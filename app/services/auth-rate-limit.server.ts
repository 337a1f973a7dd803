/**
 * Brute-force protection for /login and /signup (rate-limiter-flexible, in memory: one process).
 *
 * - Log-in FAILURES are counted per account (the email, whether or not it exists, so the limit
 *   says nothing about which emails are registered) and per client IP. Past either limit, every
 *   attempt is refused with 429 and Retry-After until the window has passed, even with the right
 *   password. A successful log-in clears the account's count.
 * - Sign-ups are counted per IP (every well-formed attempt) and per email address.
 *
 * Separate from the generation limits and from RATE_LIMIT_DISABLED on purpose: turning off the
 * capacity limits for a benchmark must not turn off a security control. AUTH_RATE_LIMIT_DISABLED
 * is its own switch (tests that create many accounts from one address use it).
 * See docs/decisions/008-security-headers-and-origin-check.md.
 */
import { RateLimiterMemory, RateLimiterRes } from "rate-limiter-flexible";
import type { Config } from "./env.server";
import { logger } from "./logger.server";
import { incrementCounter } from "./metrics.server";

export type AuthLimits = {
  disabled: boolean;
  loginFailuresPerAccount: number;
  loginFailuresPerIp: number;
  signupsPerIpPerHour: number;
  /** Sign-up attempts for one email per hour. */
  signupsPerEmailPerHour: number;
  /** Window and lock-out of the log-in failure counters, seconds. */
  loginWindowSeconds: number;
};

export type Refusal = { retryAfterSeconds: number; message: string };

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

function wait(ms: number): string {
  const minutes = Math.ceil(ms / 60_000);
  return minutes <= 1 ? "a minute" : `${minutes} minutes`;
}

function refusal(ms: number, what: string): Refusal {
  return { retryAfterSeconds: Math.max(1, Math.ceil(ms / 1000)), message: `${what} Try again in ${wait(ms)}.` };
}

const TOO_MANY_LOGINS = "Too many failed log-in attempts.";
const TOO_MANY_SIGNUPS = "Too many sign-up attempts from this network.";

export type AuthRateLimiter = ReturnType<typeof createAuthRateLimiter>;

export function createAuthRateLimiter(limits: AuthLimits) {
  const window = limits.loginWindowSeconds;
  const loginByAccount = new RateLimiterMemory({ keyPrefix: "login-account", points: limits.loginFailuresPerAccount, duration: window });
  const loginByIp = new RateLimiterMemory({ keyPrefix: "login-ip", points: limits.loginFailuresPerIp, duration: window });
  const signupByIp = new RateLimiterMemory({ keyPrefix: "signup-ip", points: limits.signupsPerIpPerHour, duration: 3600 });
  const signupByEmail = new RateLimiterMemory({ keyPrefix: "signup-email", points: limits.signupsPerEmailPerHour, duration: 3600 });

  /** The longest wait among limiters that are already past their points (null: none is). */
  async function blockedFor(checks: Array<[RateLimiterMemory, string]>): Promise<number | null> {
    let longest: number | null = null;
    for (const [limiter, key] of checks) {
      const res = await limiter.get(key);
      if (res && res.consumedPoints > limiter.points) longest = Math.max(longest ?? 0, res.msBeforeNext);
    }
    return longest;
  }

  /** Consumes one point from each; the longest wait if any went past its limit. */
  async function consumeAll(checks: Array<[RateLimiterMemory, string]>): Promise<number | null> {
    let longest: number | null = null;
    for (const [limiter, key] of checks) {
      try {
        await limiter.consume(key);
      } catch (error) {
        if (!(error instanceof RateLimiterRes)) throw error;
        longest = Math.max(longest ?? 0, error.msBeforeNext);
      }
    }
    return longest;
  }

  function refused(kind: "login" | "signup", ip: string, ms: number, what: string): Refusal {
    incrementCounter("security_refusals_total", { reason: `${kind}_rate_limit` });
    logger.warn({ ip, kind, retryAfterMs: ms }, "auth rate limit reached");
    return refusal(ms, what);
  }

  return {
    limits,

    /** Before checking a password: refuse while the account or the IP is locked out. */
    async checkLogin(ip: string, email: string): Promise<Refusal | null> {
      if (limits.disabled) return null;
      const ms = await blockedFor([
        [loginByAccount, email],
        [loginByIp, ip],
      ]);
      return ms === null ? null : refused("login", ip, ms, TOO_MANY_LOGINS);
    },

    /**
     * After a wrong password: counts it. The failure that reaches a limit locks the account (or the
     * IP) for the window and is answered with the refusal: N allowed failures, then a lock-out.
     */
    async recordLoginFailure(ip: string, email: string): Promise<Refusal | null> {
      if (limits.disabled) return null;
      let longest: number | null = null;
      for (const [limiter, key] of [
        [loginByAccount, email],
        [loginByIp, ip],
      ] as const) {
        const res = await limiter.penalty(key);
        if (res.consumedPoints >= limiter.points) {
          await limiter.block(key, window);
          longest = Math.max(longest ?? 0, window * 1000);
        }
      }
      return longest === null ? null : refused("login", ip, longest, TOO_MANY_LOGINS);
    },

    /** After a successful log-in: the account's failures are forgiven (the IP's are not). */
    async recordLoginSuccess(email: string): Promise<void> {
      if (limits.disabled) return;
      await loginByAccount.delete(email);
    },

    /** Every well-formed sign-up attempt counts, per IP and per email. */
    async consumeSignup(ip: string, email: string): Promise<Refusal | null> {
      if (limits.disabled) return null;
      const ms = await consumeAll([
        [signupByIp, ip],
        [signupByEmail, email],
      ]);
      return ms === null ? null : refused("signup", ip, ms, TOO_MANY_SIGNUPS);
    },
  };
}

let current: { config: Config; limiter: AuthRateLimiter } | undefined;

/** The process's limiter, made once per config (the runtime's). */
export function getAuthRateLimiter(config: Config): AuthRateLimiter {
  if (!current || current.config !== config) current = { config, limiter: createAuthRateLimiter(authLimitsFromConfig(config)) };
  return current.limiter;
}

/** Headers of a 429 answer. */
export function retryAfterHeaders(r: Refusal): HeadersInit {
  return { "Retry-After": String(r.retryAfterSeconds), "Cache-Control": "no-store" };
}

