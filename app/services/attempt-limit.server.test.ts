import { describe, expect, it } from "vitest";
import { consumeAttempts, createAttemptLimiter, refundAttempts } from "./attempt-limit.server";
import { memoryLimiterStore } from "./limiter-store.server";

let n = 0;
const limiter = (points: number, windowSeconds = 60) => createAttemptLimiter({ name: `test-${n++}`, points, windowSeconds, store: memoryLimiterStore });

describe("attempt limiter", () => {
  it("accepts exactly `points` of many parallel attempts, and refuses the rest with the wait", async () => {
    const l = limiter(10, 900);
    const verdicts = await Promise.all(Array.from({ length: 200 }, () => l.consumeAttempt("k")));
    expect(verdicts.filter((v) => v.ok)).toHaveLength(10);
    const refused = verdicts.filter((v) => !v.ok);
    expect(refused).toHaveLength(190);
    for (const r of refused) expect(r).toMatchObject({ ok: false, reason: "rate_limited", retryAfterSeconds: 900 });
  });

  it("keys are independent", async () => {
    const l = limiter(1);
    expect((await l.consumeAttempt("a")).ok).toBe(true);
    expect((await l.consumeAttempt("a")).ok).toBe(false);
    expect((await l.consumeAttempt("b")).ok).toBe(true);
  });

  it("a refund gives the point back, but never more points than were taken", async () => {
    const l = limiter(2);
    await l.consumeAttempt("k");
    await l.consumeAttempt("k");
    await l.refundAttempt("k");
    expect((await l.consumeAttempt("k")).ok).toBe(true);
    expect((await l.consumeAttempt("k")).ok).toBe(false);
    // Refunding a key that holds nothing does not bank a spare attempt.
    await l.refundAttempt("fresh");
    await l.refundAttempt("fresh");
    expect((await l.consumeAttempt("fresh")).ok).toBe(true);
    expect((await l.consumeAttempt("fresh")).ok).toBe(true);
    expect((await l.consumeAttempt("fresh")).ok).toBe(false);
  });

  it("the lock lasts the window: it opens again only after it", async () => {
    const l = limiter(1, 1);
    expect((await l.consumeAttempt("k")).ok).toBe(true);
    expect(await l.consumeAttempt("k")).toMatchObject({ ok: false, retryAfterSeconds: 1 });
    await new Promise((r) => setTimeout(r, 1100));
    expect((await l.consumeAttempt("k")).ok).toBe(true);
  });

  it("several limits: refused by one, the others get their point back; the wait is the longest", async () => {
    const account = limiter(5, 60);
    const ip = limiter(1, 900);
    expect((await consumeAttempts([[account, "a"], [ip, "1.1.1.1"]])).ok).toBe(true);
    for (let i = 0; i < 10; i++) {
      expect(await consumeAttempts([[account, "a"], [ip, "1.1.1.1"]])).toMatchObject({ ok: false, retryAfterSeconds: 900 });
    }
    // The locked IP did not use up the account: 4 of its 5 points are left.
    const fromElsewhere = await Promise.all(Array.from({ length: 8 }, (_, i) => consumeAttempts([[account, "a"], [ip, `2.2.2.${i}`]])));
    expect(fromElsewhere.filter((v) => v.ok)).toHaveLength(4);
    expect((await account.consumeAttempt("a")).ok).toBe(false);
  });

  it("refundAttempts gives back one point to each limit", async () => {
    const account = limiter(1);
    const ip = limiter(1);
    const checks = [[account, "a"], [ip, "1.1.1.1"]] as const;
    expect((await consumeAttempts(checks)).ok).toBe(true);
    await refundAttempts(checks);
    expect((await account.consumeAttempt("a")).ok).toBe(true);
    expect((await ip.consumeAttempt("1.1.1.1")).ok).toBe(true);
  });
});
