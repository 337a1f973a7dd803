import { describe, expect, it } from "vitest";
import { ConfigError, parseEnv } from "./env.server";

function problemsOf(env: Record<string, string>): string[] {
  try {
    parseEnv(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error("expected a ConfigError");
}

describe("parseEnv", () => {
  it("gives working defaults for a bare development machine", () => {
    const config = parseEnv({});
    expect(config.PORT).toBe(3000);
    expect(config.appUrl).toBe("http://localhost:3000");
    expect(config.databasePath).toBe("./data/app.sqlite");
    expect(config.SIGNUP_BONUS_CREDITS).toBe(10);
    expect(config.IMAGE_COST).toBe(5);
    expect(config.VIDEO_COST).toBe(50);
    expect(config.GENERATION_PROVIDER).toBe("local");
    expect(config.stripeEmulated).toBe(true);
    expect(config.RATE_LIMIT_DISABLED).toBe(false);
    expect(config.packs).toEqual([{ id: "default", priceId: "price_credits_pack", credits: 500, name: "500 credits", expiresAfterMs: null }]);
  });

  it("names a malformed variable and what it expects", () => {
    const problems = problemsOf({ IMAGE_COST: "five" });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^IMAGE_COST must be a whole number of credits/);
    expect(problems[0]).toContain('(got "five")');
  });

  it("names every bad variable at once", () => {
    const problems = problemsOf({ PORT: "99999", APP_URL: "not a url", GENERATION_PROVIDER: "midjourney" });
    expect(problems.map((p) => p.split(" ")[0]).sort()).toEqual(["APP_URL", "GENERATION_PROVIDER", "PORT"]);
  });

  it("never echoes a secret's value", () => {
    const problems = problemsOf({ STRIPE_SECRET_KEY: "hunter2-not-a-key" });
    expect(problems[0]).toMatch(/^STRIPE_SECRET_KEY must be a Stripe secret key/);
    expect(problems.join("\n")).not.toContain("hunter2");
  });

  it("requires a session secret and real Stripe keys in production", () => {
    const problems = problemsOf({ NODE_ENV: "production" });
    expect(problems.some((p) => p.startsWith("SESSION_SECRET is required in production"))).toBe(true);
    expect(problems.some((p) => p.startsWith("STRIPE_SECRET_KEY is required in production"))).toBe(true);
  });

  it("runs the emulator in production only when asked explicitly", () => {
    const config = parseEnv({ NODE_ENV: "production", SESSION_SECRET: "x".repeat(32), STRIPE_EMULATOR: "on" });
    expect(config.stripeEmulated).toBe(true);
  });

  it("uses real Stripe when a key and webhook secret are given", () => {
    const config = parseEnv({ STRIPE_SECRET_KEY: "sk_test_abc", STRIPE_WEBHOOK_SECRET: "whsec_abc" });
    expect(config.stripeEmulated).toBe(false);
    expect(problemsOf({ STRIPE_SECRET_KEY: "sk_test_abc" })[0]).toMatch(/^STRIPE_WEBHOOK_SECRET is required/);
  });

  it.each([
    ["below", { GENERATION_HOLD_TTL_SECONDS: "60", GENERATION_TIMEOUT_SECONDS: "120" }, "60", "120"],
    ["equal to", { GENERATION_HOLD_TTL_SECONDS: "120", GENERATION_TIMEOUT_SECONDS: "120" }, "120", "120"],
    ["below the default", { GENERATION_HOLD_TTL_SECONDS: "100" }, "100", "120"],
    ["above a raised", { GENERATION_TIMEOUT_SECONDS: "900" }, "900", "900"],
  ])("refuses a hold TTL %s the provider timeout, in one line naming both", (_what, env, ttl, timeout) => {
    const problems = problemsOf(env);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^GENERATION_HOLD_TTL_SECONDS .*must be greater than GENERATION_TIMEOUT_SECONDS/);
    expect(problems[0]).toContain(`(${ttl})`);
    expect(problems[0]).toContain(`(${timeout})`);
  });

  it("accepts a hold TTL above the provider timeout", () => {
    const config = parseEnv({ GENERATION_HOLD_TTL_SECONDS: "121", GENERATION_TIMEOUT_SECONDS: "120" });
    expect(config.GENERATION_HOLD_TTL_SECONDS).toBe(121);
    expect(parseEnv({ GENERATION_HOLD_TTL_SECONDS: "10", GENERATION_TIMEOUT_SECONDS: "2" }).GENERATION_HOLD_TTL_SECONDS).toBe(10);
  });

  it("reads the database busy timeout and the reconcile interval", () => {
    expect(parseEnv({}).DATABASE_BUSY_TIMEOUT_MS).toBe(5000);
    expect(parseEnv({ DATABASE_BUSY_TIMEOUT_MS: "150" }).DATABASE_BUSY_TIMEOUT_MS).toBe(150);
    expect(problemsOf({ DATABASE_BUSY_TIMEOUT_MS: "-1" })[0]).toMatch(/^DATABASE_BUSY_TIMEOUT_MS must be a number of milliseconds/);
    expect(parseEnv({}).GENERATION_RECONCILE_INTERVAL_SECONDS).toBe(30);
    expect(problemsOf({ GENERATION_RECONCILE_INTERVAL_SECONDS: "0" })[0]).toMatch(/^GENERATION_RECONCILE_INTERVAL_SECONDS must be/);
  });

  it("requires an API key for the openai provider", () => {
    expect(problemsOf({ GENERATION_PROVIDER: "openai" })[0]).toMatch(/^OPENAI_API_KEY is required/);
  });

  it("parses admin emails case-insensitively and treats empty values as unset", () => {
    const config = parseEnv({ ADMIN_EMAILS: " Boss@Example.com, ops@example.com ,", PORT: "", DATA_DIR: "/data" });
    expect([...config.adminEmails]).toEqual(["boss@example.com", "ops@example.com"]);
    expect(config.PORT).toBe(3000);
    expect(config.databasePath).toBe("/data/app.sqlite");
  });

  it("lets DATABASE_PATH override the file inside DATA_DIR", () => {
    expect(parseEnv({ DATA_DIR: "/data", DATABASE_PATH: "/db/x.sqlite" }).databasePath).toBe("/db/x.sqlite");
  });

  it("reads credit lifetimes with the one duration parser, and names a bad one", () => {
    expect(parseEnv({}).SIGNUP_BONUS_EXPIRES_AFTER).toBe(30 * 86_400_000);
    expect(parseEnv({ SIGNUP_BONUS_EXPIRES_AFTER: "never" }).SIGNUP_BONUS_EXPIRES_AFTER).toBeNull();
    expect(parseEnv({ SIGNUP_BONUS_EXPIRES_AFTER: "12h" }).SIGNUP_BONUS_EXPIRES_AFTER).toBe(43_200_000);
    for (const bad of ["30", "30 days", "-1d", "1.5d", "1e9s"]) {
      expect(problemsOf({ SIGNUP_BONUS_EXPIRES_AFTER: bad })[0]).toMatch(/^SIGNUP_BONUS_EXPIRES_AFTER must be a duration like 30d/);
    }
    const config = parseEnv({ CREDIT_PACKS: '[{"id":"trial","priceId":"price_trial","credits":50,"expiresAfter":"90d"}]' });
    expect(config.packs.map((p) => [p.id, p.expiresAfterMs])).toEqual([["default", null], ["trial", 90 * 86_400_000]]);
    expect(problemsOf({ CREDIT_PACKS: '[{"id":"trial","priceId":"price_trial","credits":50,"expiresAfter":"soon"}]' })[0]).toMatch(/^CREDIT_PACKS must be a JSON array.*expiresAfter/);
  });

  it("accepts extra packs and refuses a repeated id", () => {
    const config = parseEnv({ CREDIT_PACKS: '[{"id":"large","priceId":"price_large","credits":1200}]' });
    expect(config.packs.map((p) => p.id)).toEqual(["default", "large"]);
    expect(problemsOf({ CREDIT_PACKS: '[{"id":"default","priceId":"p","credits":1}]' })[0]).toMatch(/^CREDIT_PACKS/);
    expect(problemsOf({ CREDIT_PACKS: "nope" })[0]).toMatch(/^CREDIT_PACKS must be a JSON array/);
    expect(problemsOf({ CREDIT_PACKS: '[{"id":"big","priceId":"price_credits_pack","credits":900}]' })).toEqual([expect.stringMatching(/must not repeat a price id.*price_credits_pack/)]);
    expect(problemsOf({ CREDIT_PACKS: '[{"id":"a","priceId":"price_x","credits":1},{"id":"b","priceId":"price_x","credits":2}]' })).toEqual([expect.stringMatching(/price_x/)]);
  });
});
