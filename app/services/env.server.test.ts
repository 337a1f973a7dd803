import { describe, expect, it } from "vitest";
import { ConfigError, parseDatabaseTarget, parseEnv } from "./env.server";

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
    const config = parseEnv({ NODE_ENV: "production", SESSION_SECRET: "x".repeat(32), STRIPE_EMULATOR: "on", MAIL_OUTBOX: "on" });
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

  it("reads VIDEO_LEASE_SECONDS from 3 to 600 (default 30)", () => {
    expect(parseEnv({}).VIDEO_LEASE_SECONDS).toBe(30);
    for (const [raw, seconds] of [["3", 3], ["600", 600], [" 45 ", 45], ["3\t", 3], ["030", 30]] as const) expect(parseEnv({ VIDEO_LEASE_SECONDS: raw }).VIDEO_LEASE_SECONDS).toBe(seconds);
  });

  // A lease shorter than a heartbeat's round trip would let two workers run one video; a huge one
  // would leave a dead worker's video stuck. Every one of these is refused, in one line.
  it.each(["2", "0", "-1", "601", "99999999999999999999", "3.5", "1e2", "0x10", "30s", " ", "NaN", "Infinity", "30\u0000", "3 0", "٣٠"])(
    "refuses VIDEO_LEASE_SECONDS=%j",
    (raw) => {
      const problems = problemsOf({ VIDEO_LEASE_SECONDS: raw });
      expect(problems).toHaveLength(1);
      expect(problems[0]).toMatch(/^VIDEO_LEASE_SECONDS must be a number of seconds from 3 to 600/);
    },
  );

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

  describe("mail", () => {
    const PROD = { NODE_ENV: "production", SESSION_SECRET: "x".repeat(32), STRIPE_EMULATOR: "on" };

    it("writes to the local outbox with a default sender on a bare development machine", () => {
      expect(parseEnv({ DATA_DIR: "/data/" }).mail).toEqual({ transport: "outbox", dir: "/data/outbox", from: "Credits Studio <no-reply@localhost>" });
      expect(parseEnv({}).MAIL_RETRY_SCHEDULE).toEqual([30_000, 120_000, 600_000, 3_600_000, 21_600_000, 43_200_000, 86_400_000]);
    });

    it("uses SMTP when SMTP_URL is set", () => {
      const config = parseEnv({ SMTP_URL: "smtps://u:p@smtp.example.com:465", MAIL_FROM: "Studio <hi@example.com>" });
      expect(config.mail).toEqual({ transport: "smtp", smtpUrl: "smtps://u:p@smtp.example.com:465", from: "Studio <hi@example.com>" });
    });

    it("refuses production without SMTP_URL in one line naming SMTP_URL and MAIL_OUTBOX", () => {
      const problems = problemsOf(PROD);
      expect(problems).toHaveLength(1);
      expect(problems[0]).toMatch(/^SMTP_URL is required in production .*MAIL_OUTBOX=on/);
      expect(problems[0]).not.toContain("\n");
    });

    it("runs the outbox in production only when asked explicitly", () => {
      expect(parseEnv({ ...PROD, MAIL_OUTBOX: "on" }).mail.transport).toBe("outbox");
      expect(parseEnv({ ...PROD, SMTP_URL: "smtp://smtp.example.com", MAIL_FROM: "a@example.com", MAIL_OUTBOX: "on" }).mail.transport).toBe("outbox");
      expect(problemsOf({ MAIL_OUTBOX: "off" })).toEqual(["SMTP_URL is required when MAIL_OUTBOX=off"]);
    });

    it("requires MAIL_FROM with SMTP in production", () => {
      expect(problemsOf({ ...PROD, SMTP_URL: "smtp://smtp.example.com:587" })).toEqual([expect.stringMatching(/^MAIL_FROM is required/)]);
      expect(parseEnv({ ...PROD, SMTP_URL: "smtp://smtp.example.com:587", MAIL_FROM: "no-reply@example.com" }).mail.transport).toBe("smtp");
    });

    it.each([
      "http://smtp.example.com",
      "smtp:/nohost",
      "smtp://",
      "ftp://u:p@example.com",
      "smtp.example.com:587",
      "javascript:alert(1)",
      "mailto:a@example.com",
    ])("refuses SMTP_URL=%s", (value) => {
      const problems = problemsOf({ SMTP_URL: value });
      expect(problems[0]).toMatch(/^SMTP_URL must be an smtp:\/\/ or smtps:\/\/ URL/);
    });

    it("never echoes the SMTP password in a config error", () => {
      const problems = problemsOf({ SMTP_URL: "smtpx://mailer:hunter2-smtp@smtp.example.com:587" });
      expect(problems[0]).toMatch(/^SMTP_URL must be/);
      expect(problems.join("\n")).not.toContain("hunter2");
    });

    it.each([
      "not an address",
      "Name <no-at-sign>",
      "a@b.c\r\nBcc: victim@example.com",
      "Name <a@example.com>\nBcc: x@example.com",
      "<a@example.com>",
      "a@example.com, b@example.com",
      "Name <a@example.com> trailing",
    ])("refuses MAIL_FROM=%j", (value) => {
      expect(problemsOf({ MAIL_FROM: value })[0]).toMatch(/^MAIL_FROM must be an address/);
    });

    it.each(["Credits Studio <no-reply@example.com>", "no-reply@example.com", "Ops Team <ops+mail@mail.example.co.uk>"])("accepts MAIL_FROM=%s", (value) => {
      expect(parseEnv({ MAIL_FROM: value }).mail.from).toBe(value);
    });

    it.each([["MAIL_RETRY_SCHEDULE", "30s,,2m"], ["MAIL_RETRY_SCHEDULE", "5"], ["MAIL_RETRY_SCHEDULE", "1s,-2m"], ["MAIL_RETRY_SCHEDULE", "9999h"], ["MAIL_SEND_INTERVAL", "0ms"], ["MAIL_SEND_INTERVAL", "2 s"], ["MAIL_SEND_TIMEOUT", "1d"], ["MAIL_OUTBOX", "yes"]])(
      "refuses %s=%s",
      (name, value) => {
        expect(problemsOf({ [name]: value })[0]).toMatch(new RegExp(`^${name} must be`));
      },
    );

    it("reads durations as an operator writes them", () => {
      const config = parseEnv({ MAIL_RETRY_SCHEDULE: "200ms, 1s,2m,1h", MAIL_SEND_INTERVAL: "100ms", MAIL_SEND_TIMEOUT: "10s" });
      expect(config.MAIL_RETRY_SCHEDULE).toEqual([200, 1000, 120_000, 3_600_000]);
      expect(config.MAIL_SEND_INTERVAL).toBe(100);
      expect(config.MAIL_SEND_TIMEOUT).toBe(10_000);
    });
  });

  describe("video pricing, promotion codes and expiry warnings (decision 025)", () => {
    it("defaults: 8-second video prices, no promotion codes, warnings 7 days ahead from 50 credits, hourly", () => {
      const config = parseEnv({});
      expect(config.VIDEO_COST_SECONDS).toBe(8);
      expect(config.STRIPE_ALLOW_PROMOTION_CODES).toBe("off");
      expect(config.EXPIRY_WARNING_MIN_CREDITS).toBe(50);
      expect(config.EXPIRY_WARNING_BEFORE).toBe(7 * 86_400_000);
      expect(config.EXPIRY_WARNING_INTERVAL).toBe(3_600_000);
    });

    it("reads what an operator writes", () => {
      const config = parseEnv({ VIDEO_COST_SECONDS: "4", STRIPE_ALLOW_PROMOTION_CODES: "on", EXPIRY_WARNING_MIN_CREDITS: "0", EXPIRY_WARNING_BEFORE: "36h", EXPIRY_WARNING_INTERVAL: "15m" });
      expect(config).toMatchObject({ VIDEO_COST_SECONDS: 4, STRIPE_ALLOW_PROMOTION_CODES: "on", EXPIRY_WARNING_MIN_CREDITS: 0, EXPIRY_WARNING_BEFORE: 36 * 3_600_000, EXPIRY_WARNING_INTERVAL: 900_000 });
    });

    it.each([
      ["VIDEO_COST_SECONDS", "0"],
      ["VIDEO_COST_SECONDS", "61"],
      ["VIDEO_COST_SECONDS", "8.5"],
      ["VIDEO_COST_SECONDS", "8s"],
      ["STRIPE_ALLOW_PROMOTION_CODES", "yes"],
      ["STRIPE_ALLOW_PROMOTION_CODES", "true"],
      ["STRIPE_ALLOW_PROMOTION_CODES", "ON "],
      ["EXPIRY_WARNING_MIN_CREDITS", "-1"],
      ["EXPIRY_WARNING_MIN_CREDITS", "fifty"],
      ["EXPIRY_WARNING_MIN_CREDITS", "1000001"],
      ["EXPIRY_WARNING_BEFORE", "0"],
      ["EXPIRY_WARNING_BEFORE", "never"],
      ["EXPIRY_WARNING_BEFORE", "30m"],
      ["EXPIRY_WARNING_BEFORE", "91d"],
      ["EXPIRY_WARNING_BEFORE", "7"],
      ["EXPIRY_WARNING_INTERVAL", "500ms"],
      ["EXPIRY_WARNING_INTERVAL", "2d"],
    ])("refuses %s=%j, naming it", (name, value) => {
      const problems = problemsOf({ [name]: value });
      expect(problems).toHaveLength(1);
      expect(problems[0]).toMatch(new RegExp(`^${name} must be`));
    });
  });
});

describe("generated files in an S3-compatible bucket", () => {
  const S3 = { S3_BUCKET: "credits-results", S3_ENDPOINT: "https://acc.r2.cloudflarestorage.com/", S3_ACCESS_KEY_ID: "AKIAEXAMPLE", S3_SECRET_ACCESS_KEY: "very-secret-value" };

  it("keeps files in DATA_DIR by default", () => {
    expect(parseEnv({ DATA_DIR: "/srv/data" }).results).toEqual({ kind: "folder", dataDir: "/srv/data" });
  });

  it("reads a bucket, its endpoint, region, path style, prefix and keys", () => {
    expect(parseEnv({ ...S3, S3_REGION: "auto", S3_FORCE_PATH_STYLE: "1", S3_PREFIX: "credits/" }).results).toEqual({
      kind: "s3",
      bucket: "credits-results",
      endpoint: "https://acc.r2.cloudflarestorage.com",
      region: "auto",
      forcePathStyle: true,
      prefix: "credits/",
      credentials: { accessKeyId: "AKIAEXAMPLE", secretAccessKey: "very-secret-value" },
    });
  });

  it("leaves the credentials to the AWS SDK's own chain when neither key is set", () => {
    expect(parseEnv({ S3_BUCKET: "credits-results" }).results).toMatchObject({ kind: "s3", endpoint: null, region: "us-east-1", credentials: null, forcePathStyle: false, prefix: "" });
  });

  it.each([
    ["S3_BUCKET", "ab"],
    ["S3_BUCKET", "Has-Capitals"],
    ["S3_BUCKET", "under_score"],
    ["S3_BUCKET", "-leading-hyphen"],
    ["S3_BUCKET", "a".repeat(64)],
    ["S3_BUCKET", "with space"],
    ["S3_BUCKET", "tab\there"],
    ["S3_ENDPOINT", "ftp://files.example.com"],
    ["S3_ENDPOINT", "javascript:alert(1)"],
    ["S3_ENDPOINT", "not a url"],
    ["S3_REGION", "US East"],
    ["S3_REGION", "us-east\t1"],
    ["S3_FORCE_PATH_STYLE", "maybe"],
    ["S3_PREFIX", "/leading-slash/"],
    ["S3_PREFIX", "no-trailing-slash"],
    ["S3_PREFIX", "../escape/"],
    ["S3_PREFIX", "a//b/"],
  ])("refuses %s=%j and names it", (name, value) => {
    const problems = problemsOf({ ...S3, [name]: value });
    expect(problems.some((p) => p.startsWith(`${name} must`))).toBe(true);
  });

  it("needs a bucket when an endpoint or keys are set, and both keys or neither", () => {
    expect(problemsOf({ S3_ENDPOINT: "https://s3.example.com" })[0]).toMatch(/^S3_BUCKET is required/);
    expect(problemsOf({ S3_BUCKET: "credits-results", S3_ACCESS_KEY_ID: "AKIA" })[0]).toMatch(/S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY go together/);
  });

  it("never echoes the keys", () => {
    const problems = problemsOf({ ...S3, S3_SECRET_ACCESS_KEY: " ", S3_ACCESS_KEY_ID: " ", S3_BUCKET: "x" });
    expect(problems.join("\n")).not.toContain("AKIAEXAMPLE");
    expect(problems.join("\n")).not.toContain("very-secret-value");
  });
});

describe("DATABASE_URL (PostgreSQL, decision 034)", () => {
  it("selects PostgreSQL for the operator commands when set, and SQLite as before when not", () => {
    const neon = "postgresql://app:secret@ep-cool-name-123.eu-central-1.aws.neon.tech/credits?sslmode=require&channel_binding=require";
    expect(parseDatabaseTarget({ DATABASE_URL: neon, DATA_DIR: "/data" })).toEqual({ dialect: "postgres", url: neon });
    expect(parseDatabaseTarget({ DATABASE_URL: "postgres://localhost/credits" })).toEqual({ dialect: "postgres", url: "postgres://localhost/credits" });
    expect(parseDatabaseTarget({ DATA_DIR: "/data" })).toEqual({ dialect: "sqlite", path: "/data/app.sqlite" });
    expect(parseDatabaseTarget({ DATABASE_URL: "" })).toEqual({ dialect: "sqlite", path: "./data/app.sqlite" });
    expect(parseEnv({ DATABASE_URL: neon }).DATABASE_URL).toBe(neon);
  });

  it.each([
    ["mysql://app:hunter2@db.example.com/credits", ' (got "mysql://app:***@db.example.com/credits")'],
    ["https://db.example.com/credits", ' (got "https://db.example.com/credits")'],
    ["postgres:///credits", ' (got "postgres:///credits")'],
    ["postgres//app:hunter2@db/credits", ""], // not a URL, and may hold a password anywhere: not quoted
  ])("refuses %j, naming the variable and never its password", (value, shown) => {
    const problems = problemsOf({ DATABASE_URL: value });
    expect(problems).toEqual([`DATABASE_URL must be a postgres:// or postgresql:// URL such as postgres://user:password@host:5432/credits?sslmode=require${shown}`]);
    expect(problems.join("\n")).not.toContain("hunter2");
  });
});

describe("REDIS_URL (decision 033)", () => {
  it("is unset by default (the limits stay in memory), and an empty value means unset like every variable", () => {
    expect(parseEnv({}).REDIS_URL).toBeUndefined();
    expect(parseEnv({ REDIS_URL: "" }).REDIS_URL).toBeUndefined();
  });

  it.each([
    "redis://127.0.0.1:6379",
    "redis://localhost",
    "redis://:secret@redis.internal:6380/2",
    "rediss://default:AbC123xyz@eu1-fine-owl-12345.upstash.io:6379",
    "redis://default:pw@fly-redis.upstash.io:6379?family=6",
    "redis://[::1]:6379",
  ])("takes %s", (value) => {
    expect(parseEnv({ REDIS_URL: value }).REDIS_URL).toBe(value);
  });

  it.each([
    ["http", "http://default:hunter2secret@redis.example.com:6379"],
    ["https", "https://default:hunter2secret@redis.example.com"],
    ["no scheme", "default:hunter2secret@redis.example.com:6379"],
    ["a host and port only", "redis.example.com:6379"],
    ["spaces only", "   "],
    ["a leading space", " redis://default:hunter2secret@redis.example.com:6379"],
    ["a trailing space", "redis://default:hunter2secret@redis.example.com:6379 "],
    ["a tab inside the host (the URL parser would drop it)", "redis://default:hunter2secret@redis.exa\tmple.com:6379"],
    ["a line break", "redis://default:hunter2secret@redis.example.com:6379\n"],
    ["no host", "redis://"],
    ["a password and no host", "redis://:hunter2secret@"],
    ["a port out of range", "redis://default:hunter2secret@redis.example.com:99999"],
    ["a path that is not a db number", "redis://default:hunter2secret@redis.example.com:6379/cache"],
    ["a fragment", "redis://default:hunter2secret@redis.example.com:6379#hunter2secret"],
    ["garbage", "not a url at all hunter2secret"],
    ["a unix socket path", "/var/run/redis.sock"],
    ["a non-ASCII host", "redis://default:hunter2secret@rédis.example.com"],
  ])("refuses %s, naming REDIS_URL, without echoing the value", (_what, value) => {
    const problems = problemsOf({ REDIS_URL: value });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^REDIS_URL must be a redis:\/\/ or rediss:\/\/ URL with a host/);
    expect(problems[0]).not.toContain("hunter2secret");
    expect(problems[0]).not.toContain("got");
  });
});
