import { describe, expect, it } from "vitest";
import { createAuthRateLimiter, type AuthLimits } from "./auth-rate-limit.server";
import { memoryLimiterStore } from "./limiter-store.server";

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
  it("allows N attempts per account, then refuses before any password check, with the wait", async () => {
    const rl = createAuthRateLimiter(limits(), memoryLimiterStore);
    for (const ip of ["1.1.1.1", "2.2.2.2", "3.3.3.3"]) expect((await rl.beginLogin(ip, "a@x.test")).ok).toBe(true);
    const locked = await rl.beginLogin("4.4.4.4", "a@x.test");
    expect(locked).toMatchObject({ ok: false, reason: "rate_limited", retryAfterSeconds: 900 });
    expect(!locked.ok && locked.message).toBe("Too many failed log-in attempts. Try again in 15 minutes.");
    expect((await rl.beginLogin("4.4.4.4", "b@x.test")).ok).toBe(true);
  });

  it("holds under parallel attempts: N accepted per account, N per IP", async () => {
    const rl = createAuthRateLimiter(limits({ loginFailuresPerAccount: 10, loginFailuresPerIp: 7 }), memoryLimiterStore);
    const perAccount = await Promise.all(Array.from({ length: 41 }, (_, i) => rl.beginLogin(`10.0.0.${i}`, "victim@x.test")));
    expect(perAccount.filter((a) => a.ok)).toHaveLength(10);
    const perIp = await Promise.all(Array.from({ length: 41 }, (_, i) => rl.beginLogin("9.9.9.9", `u${i}@x.test`)));
    expect(perIp.filter((a) => a.ok)).toHaveLength(7);
  });

  it("a successful log-in gives its points back (account and IP); failures keep theirs", async () => {
    const rl = createAuthRateLimiter(limits({ loginFailuresPerAccount: 3, loginFailuresPerIp: 3 }), memoryLimiterStore);
    await rl.beginLogin("1.1.1.1", "a@x.test"); // wrong password: keeps its point
    await rl.beginLogin("1.1.1.1", "a@x.test"); // wrong password: keeps its point
    for (let i = 0; i < 5; i++) {
      const ok = await rl.beginLogin("1.1.1.1", "a@x.test");
      expect(ok.ok).toBe(true);
      if (ok.ok) await ok.succeeded();
    }
    expect((await rl.beginLogin("1.1.1.1", "a@x.test")).ok).toBe(true);
    expect((await rl.beginLogin("1.1.1.1", "a@x.test")).ok).toBe(false);
  });

  it("counts sign-ups per IP and per email", async () => {
    const rl = createAuthRateLimiter(limits(), memoryLimiterStore);
    expect(await rl.consumeSignup("5.5.5.5", "a@x.test")).toBeNull();
    expect(await rl.consumeSignup("5.5.5.5", "b@x.test")).toBeNull();
    const refused = await rl.consumeSignup("5.5.5.5", "c@x.test");
    expect(refused!.message).toMatch(/^Too many sign-up attempts from this network\. Try again in \d+ minutes\.$/);
    expect(refused!.retryAfterSeconds).toBeGreaterThan(3500);
    const perEmail = createAuthRateLimiter(limits({ signupsPerIpPerHour: 100, signupsPerEmailPerHour: 2 }), memoryLimiterStore);
    await perEmail.consumeSignup("1.0.0.1", "same@x.test");
    await perEmail.consumeSignup("1.0.0.2", "same@x.test");
    expect(await perEmail.consumeSignup("1.0.0.3", "same@x.test")).not.toBeNull();
  });

  it("sign-ups hold under parallel attempts", async () => {
    const rl = createAuthRateLimiter(limits({ signupsPerIpPerHour: 4 }), memoryLimiterStore);
    const all = await Promise.all(Array.from({ length: 30 }, (_, i) => rl.consumeSignup("6.6.6.6", `s${i}@x.test`)));
    expect(all.filter((r) => r === null)).toHaveLength(4);
  });

  it("AUTH_RATE_LIMIT_DISABLED turns every check off", async () => {
    const rl = createAuthRateLimiter(limits({ disabled: true, loginFailuresPerAccount: 1, signupsPerIpPerHour: 1 }), memoryLimiterStore);
    for (let i = 0; i < 5; i++) {
      expect((await rl.beginLogin("1.1.1.1", "a@x.test")).ok).toBe(true);
      expect(await rl.consumeSignup("1.1.1.1", `s${i}@x.test`)).toBeNull();
    }
  });
});
