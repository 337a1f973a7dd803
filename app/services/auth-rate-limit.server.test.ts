import { describe, expect, it } from "vitest";
import { createAuthRateLimiter, type AuthLimits } from "./auth-rate-limit.server";

const limits = (over: Partial<AuthLimits> = {}): AuthLimits => ({
  disabled: false,
  loginFailuresPerAccount: 3,
  loginFailuresPerIp: 5,
  signupsPerIpPerHour: 2,
  signupsPerEmailPerHour: 5,
  loginWindowSeconds: 900,
  ...over,
});

describe("auth rate limiter", () => {
  it("allows N-1 failures, locks the account on the Nth, and refuses even before a password check", async () => {
    const rl = createAuthRateLimiter(limits());
    expect(await rl.recordLoginFailure("1.1.1.1", "a@x.test")).toBeNull();
    expect(await rl.recordLoginFailure("2.2.2.2", "a@x.test")).toBeNull();
    const locked = await rl.recordLoginFailure("3.3.3.3", "a@x.test");
    expect(locked).toMatchObject({ retryAfterSeconds: 900 });
    expect(locked!.message).toBe("Too many failed log-in attempts. Try again in 15 minutes.");
    const again = await rl.checkLogin("4.4.4.4", "a@x.test");
    expect(again!.retryAfterSeconds).toBeGreaterThan(890);
    expect(await rl.checkLogin("4.4.4.4", "b@x.test")).toBeNull();
  });

  it("locks an IP that fails across many accounts", async () => {
    const rl = createAuthRateLimiter(limits());
    for (let i = 0; i < 4; i++) expect(await rl.recordLoginFailure("9.9.9.9", `u${i}@x.test`)).toBeNull();
    expect(await rl.recordLoginFailure("9.9.9.9", "u4@x.test")).not.toBeNull();
    expect(await rl.checkLogin("9.9.9.9", "fresh@x.test")).not.toBeNull();
    expect(await rl.checkLogin("8.8.8.8", "fresh@x.test")).toBeNull();
  });

  it("a successful log-in forgives the account's failures", async () => {
    const rl = createAuthRateLimiter(limits());
    await rl.recordLoginFailure("1.1.1.1", "a@x.test");
    await rl.recordLoginFailure("1.1.1.1", "a@x.test");
    await rl.recordLoginSuccess("a@x.test");
    expect(await rl.recordLoginFailure("1.1.1.1", "a@x.test")).toBeNull();
    expect(await rl.recordLoginFailure("1.1.1.1", "a@x.test")).toBeNull();
  });

  it("unlocks when the window has passed", async () => {
    const rl = createAuthRateLimiter(limits({ loginWindowSeconds: 1, loginFailuresPerAccount: 1 }));
    expect(await rl.recordLoginFailure("1.1.1.1", "a@x.test")).toMatchObject({ retryAfterSeconds: 1 });
    expect(await rl.checkLogin("1.1.1.1", "a@x.test")).not.toBeNull();
    await new Promise((r) => setTimeout(r, 1100));
    expect(await rl.checkLogin("1.1.1.1", "a@x.test")).toBeNull();
  });

  it("counts sign-ups per IP and per email", async () => {
    const rl = createAuthRateLimiter(limits());
    expect(await rl.consumeSignup("5.5.5.5", "a@x.test")).toBeNull();
    expect(await rl.consumeSignup("5.5.5.5", "b@x.test")).toBeNull();
    const refused = await rl.consumeSignup("5.5.5.5", "c@x.test");
    expect(refused!.message).toMatch(/^Too many sign-up attempts from this network\. Try again in \d+ minutes\.$/);
    expect(refused!.retryAfterSeconds).toBeGreaterThan(3500);
    const perEmail = createAuthRateLimiter(limits({ signupsPerIpPerHour: 100, signupsPerEmailPerHour: 2 }));
    await perEmail.consumeSignup("1.0.0.1", "same@x.test");
    await perEmail.consumeSignup("1.0.0.2", "same@x.test");
    expect(await perEmail.consumeSignup("1.0.0.3", "same@x.test")).not.toBeNull();
  });

  it("AUTH_RATE_LIMIT_DISABLED turns every check off", async () => {
    const rl = createAuthRateLimiter(limits({ disabled: true, loginFailuresPerAccount: 1, signupsPerIpPerHour: 1 }));
    for (let i = 0; i < 5; i++) {
      expect(await rl.recordLoginFailure("1.1.1.1", "a@x.test")).toBeNull();
      expect(await rl.checkLogin("1.1.1.1", "a@x.test")).toBeNull();
      expect(await rl.consumeSignup("1.1.1.1", `s${i}@x.test`)).toBeNull();
    }
  });
});
