import { z } from "zod";
import { DURATION_HINT, parseDuration } from "~/utils/duration";
import type { ResultStoreConfig } from "./results/result-store.server";

// Every environment variable the app reads, validated once at start-up. A bad value stops the
// process with one line per variable that names it and says what it expects. It is one file of
// ~340 lines on purpose: one schema is the single list of what can be configured (.env.example
// and the README follow it), and cross-variable rules need every variable in one place.

const int = (what: string, min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^-?\d+$/, `must be ${what}`)
    .transform(Number)
    .refine((n) => Number.isSafeInteger(n) && n >= min && n <= max, `must be ${what}`);

const flag = z
  .string()
  .trim()
  .toLowerCase()
  .refine((v) => ["", "0", "1", "true", "false", "yes", "no"].includes(v), "must be 1/0, true/false or yes/no")
  .transform((v) => ["1", "true", "yes"].includes(v));

const url = (what = "an absolute http(s) URL") =>
  z
    .string()
    .trim()
    .refine((v) => {
      try {
        return ["http:", "https:"].includes(new URL(v).protocol);
      } catch {
        return false;
      }
    }, `must be ${what}`)
    .transform((v) => v.replace(/\/+$/, ""));

const postgresUrl = z
  .string()
  .trim()
  .refine((v) => {
    try {
      const u = new URL(v);
      return ["postgres:", "postgresql:"].includes(u.protocol) && (u.hostname !== "" || u.searchParams.has("host"));
    } catch {
      return false;
    }
  }, "must be a postgres:// or postgresql:// URL such as postgres://user:password@host:5432/credits?sslmode=require");

/** "30s", "2m", "1h", "500ms": an operational delay, in milliseconds (the one duration parser). */
function delayMs(text: string): number | null {
  const parsed = parseDuration(text);
  return parsed.ok && parsed.ms !== null ? parsed.ms : null;
}
const delay = (what: string, minMs: number, maxMs: number) =>
  z
    .string()
    .trim()
    .refine((v) => {
      const ms = delayMs(v);
      return ms !== null && ms >= minMs && ms <= maxMs;
    }, `must be ${what}`)
    .transform((v) => delayMs(v)!);
const durationList = z
  .string()
  .trim()
  .refine((v) => {
    const parts = v.split(",").map((p) => delayMs(p));
    return parts.length >= 1 && parts.length <= 20 && parts.every((ms) => ms !== null && ms >= 10 && ms <= 7 * 86_400_000);
  }, "must be 1 to 20 comma-separated delays between attempts, each 10ms to 168h (e.g. 30s,2m,10m,1h,6h)")
  .transform((v) => v.split(",").map((p) => delayMs(p)!));

const smtpUrl = z
  .string()
  .trim()
  .refine((v) => {
    try {
      const u = new URL(v);
      return ["smtp:", "smtps:"].includes(u.protocol) && u.hostname !== "";
    } catch {
      return false;
    }
  }, "must be an smtp:// or smtps:// URL such as smtp://user:pass@smtp.example.com:587");

// Rate limits and brute-force counters in Redis (decision 033). Checked strictly rather than
// trimmed: the URL parser silently drops tabs and line breaks inside a URL, so a pasted value with
// one would name another host than the operator sees. The value is never echoed (parseWith): it
// usually carries the password.
const redisUrl = z.string().refine((v) => {
  if (!/^[\x21-\x7e]+$/.test(v)) return false; // no spaces, tabs or control characters anywhere
  try {
    const u = new URL(v);
    return ["redis:", "rediss:"].includes(u.protocol) && u.hostname !== "" && /^(\/\d{0,2})?$/.test(u.pathname) && u.hash === "";
  } catch {
    return false;
  }
}, "must be a redis:// or rediss:// URL with a host, such as rediss://default:PASSWORD@host:6379 (the value is not shown: it may hold a password)");

// "Name <address>" or a bare address; no line breaks (a header), one address.
const MAILBOX = /^(?:[^<>\r\n"]{1,100} <[^\s<>@"]{1,64}@[^\s<>@"]{1,253}>|[^\s<>@"]{1,64}@[^\s<>@"]{1,253})$/;
const mailFrom = z
  .string()
  .trim()
  .regex(MAILBOX, 'must be an address such as "Credits Studio <no-reply@example.com>" or no-reply@example.com');
/** A credit lifetime (app/utils/duration.ts): milliseconds, or null for never. */
const creditLifetime = z.string().transform((v, ctx) => {
  const parsed = parseDuration(v);
  if (parsed.ok) return parsed.ms;
  ctx.addIssue({ code: z.ZodIssueCode.custom, message: `must be ${DURATION_HINT}` });
  return z.NEVER;
});

const PackSchema = z.object({
  id: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,31}$/, "pack id: lower-case letters, digits, - or _"),
  priceId: z.string().min(1),
  credits: z.number().int().positive().max(1_000_000),
  name: z.string().min(1).max(60).optional(),
  // How long the credits of this pack stay spendable; omitted: they never expire.
  expiresAfter: creditLifetime.optional(),
});

const packsJson = z.string().transform((v, ctx) => {
  try {
    return z.array(PackSchema).parse(JSON.parse(v));
  } catch {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: `must be a JSON array of {"id","priceId","credits","name"?,"expiresAfter"?} (expiresAfter: ${DURATION_HINT})` });
    return z.NEVER;
  }
});

const PlanSchema = z.object({
  id: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,31}$/, "plan id: lower-case letters, digits, - or _"),
  name: z.string().min(1).max(60),
  priceId: z.string().min(1),
  // Credits granted by each paid invoice, spendable until the end of the period it pays for.
  credits: z.number().int().positive().max(1_000_000),
  // At a paid renewal, up to this many unspent credits of the ending period move into the new one.
  rolloverCap: z.number().int().min(0).max(1_000_000).optional(),
});

const plansJson = z.string().transform((v, ctx) => {
  try {
    return z.array(PlanSchema).parse(JSON.parse(v));
  } catch {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'must be a JSON array of {"id","name","priceId","credits","rolloverCap"?}' });
    return z.NEVER;
  }
});

/** Plans offered when the emulator stands in for Stripe and CREDIT_PLANS is not set, so the
 * two-command start shows subscriptions too. With real Stripe there are no default plans: a
 * plan needs a recurring price that exists in the operator's account. */
export const EMULATOR_DEFAULT_PLANS = [
  { id: "starter", name: "Starter", priceId: "price_plan_starter", credits: 1_000, rolloverCap: 500 },
  { id: "pro", name: "Pro", priceId: "price_plan_pro", credits: 5_000, rolloverCap: 2_500 },
] as const;

const EnvSchema = z.object({
  NODE_ENV: z.enum(["development", "production", "test"]).default("development"),
  PORT: int("a TCP port (1-65535)", 1, 65535).default("3000"),
  HOST: z.string().trim().min(1).default("0.0.0.0"),
  APP_URL: url().optional(),
  DATA_DIR: z.string().trim().min(1, "must be a folder path").default("./data"),
  DATABASE_PATH: z.string().trim().min(1, "must be a file path").optional(),
  // PostgreSQL instead of the SQLite file (decision 034): db:migrate and db:copy-to-postgres use it;
  // the server refuses it until the money path is ported.
  DATABASE_URL: postgresUrl.optional(),
  // How long a write waits for another process' lock (a script, a backup) before the API answers
  // 503 database_busy. The wait blocks the event loop, so keep it short.
  DATABASE_BUSY_TIMEOUT_MS: int("a number of milliseconds from 0 to 60000", 0, 60_000).default("5000"),
  // Generated files in an S3-compatible bucket instead of DATA_DIR/generations (decision 035).
  S3_BUCKET: z
    .string()
    .trim()
    .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, "must be a bucket name: 3-63 lower-case letters, digits, dots or hyphens")
    .optional(),
  S3_ENDPOINT: url("an http(s) URL such as https://<account>.r2.cloudflarestorage.com").optional(),
  S3_REGION: z.string().trim().regex(/^[a-z0-9-]{1,32}$/, 'must be a region such as us-east-1 or "auto"').default("us-east-1"),
  S3_FORCE_PATH_STYLE: flag.default("false"),
  S3_PREFIX: z
    .string()
    .trim()
    .regex(/^(?:(?!\.{1,2}\/)[A-Za-z0-9!_.*'()-]+\/)*$/, 'must be empty or folder names ending in "/", such as credits/ (no "." or ".." folders)')
    .default(""),
  S3_ACCESS_KEY_ID: z.string().trim().min(1).optional(),
  S3_SECRET_ACCESS_KEY: z.string().trim().min(1).optional(),
  SESSION_SECRET: z.string().min(32, "must be at least 32 characters (e.g. `openssl rand -hex 32`)").optional(),
  ADMIN_EMAILS: z.string().default(""),
  SIGNUP_BONUS_CREDITS: int("a whole number from 0 to 1000000", 0, 1_000_000).default("10"),
  SIGNUP_BONUS_EXPIRES_AFTER: creditLifetime.default("30d"),
  // A mail warns the owner of a grant holding at least this many credits (0: no warnings) that
  // expires within EXPIRY_WARNING_BEFORE; the job looks every EXPIRY_WARNING_INTERVAL.
  EXPIRY_WARNING_MIN_CREDITS: int("a whole number of credits from 0 (off) to 1000000", 0, 1_000_000).default("50"),
  EXPIRY_WARNING_BEFORE: delay("a duration from 1h to 90d (e.g. 7d)", 3_600_000, 90 * 86_400_000).default("7d"),
  EXPIRY_WARNING_INTERVAL: delay("a duration from 1s to 24h (e.g. 1h)", 1_000, 86_400_000).default("1h"),
  // Auto-recharge (decision 027): how often attempts a crash or a lost webhook left open are
  // re-sent (same Idempotency-Key) or settled from Stripe.
  AUTO_RECHARGE_RECONCILE_INTERVAL: delay("a duration from 1s to 24h (e.g. 1m)", 1_000, 86_400_000).default("1m"),

  STRIPE_SECRET_KEY: z
    .string()
    .trim()
    .regex(/^(sk|rk)_(test|live)_\w+$/, "must be a Stripe secret key (sk_test_… or sk_live_…)")
    .optional(),
  STRIPE_WEBHOOK_SECRET: z.string().trim().regex(/^whsec_\w+$/, "must be a webhook signing secret (whsec_…)").optional(),
  STRIPE_PUBLISHABLE_KEY: z.string().trim().regex(/^pk_(test|live)_\w+$/, "must be a publishable key (pk_…)").optional(),
  STRIPE_PRICE_ID_CREDITS_PACK: z.string().trim().min(1).default("price_credits_pack"),
  STRIPE_API_BASE: url("a URL such as http://127.0.0.1:12111").optional(),
  STRIPE_EMULATOR: z.enum(["auto", "on", "off"], { message: "must be auto, on or off" }).default("auto"),
  STRIPE_EMULATOR_PORT: int("a TCP port (0 = any free port)", 0, 65535).default("0"),
  // Whether Checkout offers Stripe's promotion-code field (codes are made in the Stripe Dashboard).
  STRIPE_ALLOW_PROMOTION_CODES: z.enum(["on", "off"], { message: "must be on or off" }).default("off"),
  CREDITS_PER_PACK: int("a whole number of credits from 1 to 1000000", 1, 1_000_000).default("500"),
  CREDIT_PACKS: packsJson.optional(),
  CREDIT_PLANS: plansJson.optional(),

  IMAGE_COST: int("a whole number of credits from 1 to 100000", 1, 100_000).default("5"),
  VIDEO_COST: int("a whole number of credits from 1 to 100000", 1, 100_000).default("50"),
  VIDEO_COST_1080P: int("a whole number of credits from 1 to 100000", 1, 100_000).optional(),
  // VIDEO_COST (and VIDEO_COST_1080P) is the price of a clip this many seconds long; other
  // lengths cost pro rata, rounded up.
  VIDEO_COST_SECONDS: int("a whole number of seconds from 1 to 60", 1, 60).default("8"),
  // "instant" answers with a 1×1 PNG at once: for benchmarks only, refused in production.
  GENERATION_PROVIDER: z.enum(["local", "openai", "instant"], { message: "must be local or openai" }).default("local"),
  OPENAI_BASE_URL: url().default("https://api.openai.com/v1"),
  OPENAI_API_KEY: z.string().trim().min(1).optional(),
  OPENAI_IMAGE_MODEL: z.string().trim().min(1).default("gpt-image-1"),
  OPENAI_VIDEO_MODEL: z.string().trim().min(1).default("sora-2"),
  GENERATION_TIMEOUT_SECONDS: int("a number of seconds from 1 to 3600", 1, 3600).default("120"),
  GENERATION_HOLD_TTL_SECONDS: int("a number of seconds from 10 to 86400", 10, 86_400).default("900"),
  HOLD_SWEEP_INTERVAL_SECONDS: int("a number of seconds from 1 to 3600", 1, 3600).default("30"),
  GENERATION_RECONCILE_INTERVAL_SECONDS: int("a number of seconds from 1 to 3600", 1, 3600).default("30"),
  LOCAL_VIDEO_DURATION_MS: int("a number of milliseconds from 0 to 600000", 0, 600_000).default("4000"),
  VIDEO_CONCURRENCY: int("a number from 1 to 32", 1, 32).default("2"),
  // How long a video job stays claimed by an instance that stops renewing it (killed, cut off):
  // after that another instance takes it over (video-worker.server.ts). Renewed every third.
  VIDEO_LEASE_SECONDS: int("a number of seconds from 3 to 600", 3, 600).default("30"),

  RATE_LIMIT_DISABLED: flag.default("0"),
  RATE_LIMIT_IMAGES_PER_MINUTE: int("a number from 1 to 100000", 1, 100_000).default("10"),
  RATE_LIMIT_VIDEOS_PER_MINUTE: int("a number from 1 to 100000", 1, 100_000).default("2"),
  RATE_LIMIT_RUNNING_VIDEOS: int("a number from 1 to 1000", 1, 1000).default("2"),
  // Requests per minute through one API key, on top of the per-user generation limits.
  RATE_LIMIT_KEY_REQUESTS_PER_MINUTE: int("a number from 1 to 100000", 1, 100_000).default("60"),

  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  METRICS_TOKEN: z.string().min(16, "must be at least 16 characters").optional(),

  // Which proxies to trust for the client IP (X-Forwarded-For): unset/0 = none, a hop count
  // (1 behind Fly's proxy), or Express' list form ("loopback, 10.0.0.0/8").
  TRUST_PROXY: z
    .string()
    .trim()
    .regex(/^(\d{1,2}|true|false|[\w.:/, -]+)$/, 'must be a hop count (e.g. 1), true/false, or addresses/subnets such as "loopback, 10.0.0.0/8"')
    .default("0"),
  // Seconds to finish in-flight requests after SIGTERM before connections are cut.
  SHUTDOWN_TIMEOUT_SECONDS: int("a number of seconds from 1 to 300", 1, 300).default("25"),
  // Brute-force protection of /login and /signup; separate from RATE_LIMIT_DISABLED on purpose.
  AUTH_RATE_LIMIT_DISABLED: flag.default("0"),
  AUTH_LOGIN_FAILURES_PER_ACCOUNT: int("a number from 1 to 10000", 1, 10_000).default("10"),
  AUTH_LOGIN_FAILURES_PER_IP: int("a number from 1 to 100000", 1, 100_000).default("50"),
  AUTH_SIGNUPS_PER_IP_PER_HOUR: int("a number from 1 to 100000", 1, 100_000).default("20"),
  // Redeem codes that did not work, per account and per client IP, in one hour (then locked for
  // the rest of the hour): what stops guessing codes. Its own switch-free limits (decision 024).
  REDEEM_FAILURES_PER_USER: int("a number from 1 to 100000", 1, 100_000).default("10"),
  REDEEM_FAILURES_PER_IP: int("a number from 1 to 100000", 1, 100_000).default("50"),
  // Daily online backup: off, daily (03:00 UTC) or HH:MM (UTC); keeps BACKUP_RETENTION files in BACKUP_DIR.
  BACKUP_SCHEDULE: z
    .string()
    .trim()
    .toLowerCase()
    .regex(/^(off|daily|([01]\d|2[0-3]):[0-5]\d)$/, "must be off, daily or a UTC time of day HH:MM such as 03:30")
    .default("off"),
  BACKUP_RETENTION: int("a number of backups to keep from 1 to 1000", 1, 1000).default("7"),
  BACKUP_DIR: z.string().trim().min(1, "must be a folder path").optional(),

  // Mail: SMTP when SMTP_URL is set; otherwise (outside production, or MAIL_OUTBOX=on) one .eml
  // file per message in $DATA_DIR/outbox.
  SMTP_URL: smtpUrl.optional(),
  MAIL_FROM: mailFrom.optional(),
  MAIL_OUTBOX: z.enum(["auto", "on", "off"], { message: "must be auto, on or off" }).default("auto"),
  // Delays between delivery attempts; after the last one fails the message is marked failed.
  MAIL_RETRY_SCHEDULE: durationList.default("30s,2m,10m,1h,6h,12h,24h"),
  MAIL_SEND_INTERVAL: delay("a duration from 50ms to 1h (e.g. 2s)", 50, 3_600_000).default("2s"),
  // The longest one SMTP exchange may take; a message being sent is not picked again before it ends.
  MAIL_SEND_TIMEOUT: delay("a duration from 100ms to 10m (e.g. 30s)", 100, 600_000).default("30s"),

  // The operator's words on /terms, /privacy and /support (plain text; a blank line starts a new
  // paragraph). Unset, each page shows a neutral default that says the operator has not written it.
  TERMS_TEXT: z.string().trim().max(50_000, "must be at most 50000 characters").optional(),
  PRIVACY_TEXT: z.string().trim().max(50_000, "must be at most 50000 characters").optional(),
  SUPPORT_TEXT: z.string().trim().max(50_000, "must be at most 50000 characters").optional(),
  SUPPORT_EMAIL: z.string().trim().email("must be an e-mail address").optional(),
  // Unset: the limits live in this process' memory (one instance). Set: in Redis, shared by every
  // instance and kept across restarts (decision 033).
  REDIS_URL: redisUrl.optional(),
});

export type RawEnv = z.input<typeof EnvSchema>;
type ParsedEnv = z.output<typeof EnvSchema>;

/** A plan sold by subscription: each paid invoice grants `credits`, spendable until the end of
 * the period it pays for; `rolloverCap` (0: none) of the unspent rest moves on at a paid renewal. */
export type CreditPlan = { id: string; name: string; priceId: string; credits: number; rolloverCap: number };

/** expiresAfterMs: how long a purchase's credits stay spendable (null: never). */
export type CreditPack = { id: string; priceId: string; credits: number; name: string; expiresAfterMs: number | null };

export type Config = ParsedEnv & {
  isProduction: boolean;
  appUrl: string;
  databasePath: string;
  adminEmails: ReadonlySet<string>;
  packs: readonly CreditPack[];
  plans: readonly CreditPlan[];
  /** True when Stripe calls go to the in-process emulator (no real keys). */
  stripeEmulated: boolean;
  /** SMTP, or the local outbox folder (one .eml per message). */
  mail: { transport: "smtp"; smtpUrl: string; from: string } | { transport: "outbox"; dir: string; from: string };
  /** Where generated files are kept: DATA_DIR/generations, or an S3-compatible bucket. */
  results: ResultStoreConfig;
};

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

/** Validates `env` against `schema`, or throws ConfigError with one line per bad variable. */
function parseWith<S extends z.ZodTypeAny>(schema: S, env: Record<string, string | undefined>): z.output<S> {
  // Empty strings mean "unset": .env files and compose files often write `FOO=`.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ""));
  const result = schema.safeParse(cleaned);
  if (!result.success) {
    throw new ConfigError(
      result.error.issues.map((issue) => {
        const name = String(issue.path[0] ?? "environment");
        const got = cleaned[name];
        const shown = got === undefined || /SECRET|KEY|TOKEN|PASSWORD|SMTP_URL|REDIS_URL/.test(name) ? "" : shownValue(name, got);
        return `${name} ${issue.message}${shown}`;
      }),
    );
  }
  return result.data;
}

/** How a bad value is quoted: a *_URL's password masked (DATABASE_URL's is a secret), and one
 * that does not parse, but has an `@` where credentials would be, not quoted at all. */
function shownValue(name: string, got: string): string {
  if (!name.endsWith("_URL")) return ` (got "${got}")`;
  try {
    const u = new URL(got);
    if (!u.password) return ` (got "${got}")`;
    u.password = "***";
    return ` (got "${u.toString()}")`;
  } catch {
    return got.includes("@") ? "" : ` (got "${got}")`;
  }
}

function databasePathOf(e: { DATA_DIR: string; DATABASE_PATH?: string }): string {
  return e.DATABASE_PATH ?? `${e.DATA_DIR.replace(/\/+$/, "")}/app.sqlite`;
}

/**
 * Only where the database is (DATA_DIR / DATABASE_PATH), read the way the server reads it: for
 * operator commands such as `npm run db:migrate`, which must not need the server's secrets.
 */
export function parseDatabasePath(env: Record<string, string | undefined>): string {
  return databasePathOf(parseWith(EnvSchema.pick({ DATA_DIR: true, DATABASE_PATH: true }), env));
}

/** Which database the operator commands work on: DATABASE_URL's PostgreSQL, else the SQLite file. */
export type DatabaseTarget = { dialect: "sqlite"; path: string } | { dialect: "postgres"; url: string };

export function parseDatabaseTarget(env: Record<string, string | undefined>): DatabaseTarget {
  const e = parseWith(EnvSchema.pick({ DATA_DIR: true, DATABASE_PATH: true, DATABASE_URL: true }), env);
  return e.DATABASE_URL ? { dialect: "postgres", url: e.DATABASE_URL } : { dialect: "sqlite", path: databasePathOf(e) };
}

/** Parses an environment (process.env or a test's object). Throws ConfigError naming each bad variable. */
export function parseEnv(env: Record<string, string | undefined>): Config {
  const e = parseWith(EnvSchema, env);
  const problems: string[] = [];
  const isProduction = e.NODE_ENV === "production";

  const stripeEmulated = e.STRIPE_EMULATOR === "on" || (e.STRIPE_EMULATOR === "auto" && !e.STRIPE_SECRET_KEY);
  if (isProduction && !e.SESSION_SECRET) problems.push("SESSION_SECRET is required in production (at least 32 characters)");
  if (isProduction && stripeEmulated && e.STRIPE_EMULATOR !== "on") {
    problems.push(
      "STRIPE_SECRET_KEY is required in production (or set STRIPE_EMULATOR=on to run the test-mode emulator on purpose)",
    );
  }
  if (!stripeEmulated && !e.STRIPE_SECRET_KEY) problems.push("STRIPE_SECRET_KEY is required when STRIPE_EMULATOR=off");
  if (!stripeEmulated && !e.STRIPE_WEBHOOK_SECRET) {
    problems.push("STRIPE_WEBHOOK_SECRET is required with a real STRIPE_SECRET_KEY (whsec_… from the webhook endpoint)");
  }
  if (e.GENERATION_PROVIDER === "instant" && isProduction) {
    problems.push("GENERATION_PROVIDER=instant is a benchmark stand-in and is refused in production (use local or openai)");
  }
  // A hold must outlive the provider call it pays for, or the sweeper voids it mid-call and a
  // finished generation can no longer be charged.
  if (e.GENERATION_HOLD_TTL_SECONDS <= e.GENERATION_TIMEOUT_SECONDS) {
    problems.push(
      `GENERATION_HOLD_TTL_SECONDS (${e.GENERATION_HOLD_TTL_SECONDS}) must be greater than GENERATION_TIMEOUT_SECONDS (${e.GENERATION_TIMEOUT_SECONDS}): a hold must outlive the provider call it pays for`,
    );
  }
  if (e.GENERATION_PROVIDER === "openai" && !e.OPENAI_API_KEY) {
    problems.push("OPENAI_API_KEY is required when GENERATION_PROVIDER=openai");
  }
  const mail = mailConfigOf(e, isProduction, problems);
  const packs: CreditPack[] = [
    { id: "default", priceId: e.STRIPE_PRICE_ID_CREDITS_PACK, credits: e.CREDITS_PER_PACK, name: `${e.CREDITS_PER_PACK} credits`, expiresAfterMs: null },
    ...(e.CREDIT_PACKS ?? []).map(({ expiresAfter, ...p }) => ({ ...p, name: p.name ?? `${p.credits} credits`, expiresAfterMs: expiresAfter ?? null })),
  ];
  const ids = packs.map((p) => p.id);
  if (new Set(ids).size !== ids.length) problems.push('CREDIT_PACKS must not repeat a pack id (and "default" is taken)');
  // A price id names what a purchase was: two packs on one price could not be told apart.
  const priceIds = packs.map((p) => p.priceId);
  const repeated = [...new Set(priceIds.filter((id, i) => priceIds.indexOf(id) !== i))];
  if (repeated.length) {
    problems.push(`CREDIT_PACKS must not repeat a price id (STRIPE_PRICE_ID_CREDITS_PACK is the default pack's): ${repeated.join(", ")}`);
  }
  const plans: CreditPlan[] = (e.CREDIT_PLANS ?? (stripeEmulated ? EMULATOR_DEFAULT_PLANS : [])).map((p) => ({ ...p, rolloverCap: p.rolloverCap ?? 0 }));
  if (new Set(plans.map((p) => p.id)).size !== plans.length) problems.push("CREDIT_PLANS must not repeat a plan id");
  const planPrices = plans.map((p) => p.priceId);
  const shared = planPrices.filter((id, i) => planPrices.indexOf(id) !== i || priceIds.includes(id));
  if (shared.length) problems.push(`CREDIT_PLANS must not repeat a price id, nor use a pack's: ${[...new Set(shared)].join(", ")}`);
  const results = resultStoreConfigOf(e, problems);
  if (problems.length) throw new ConfigError(problems);

  return {
    ...e,
    isProduction,
    appUrl: e.APP_URL ?? `http://localhost:${e.PORT}`,
    databasePath: databasePathOf(e),
    adminEmails: new Set(
      e.ADMIN_EMAILS.split(",")
        .map((s) => s.trim().toLowerCase())
        .filter(Boolean),
    ),
    packs,
    plans,
    stripeEmulated,
    mail,
    results,
  };
}

function resultStoreConfigOf(e: ParsedEnv, problems: string[]): ResultStoreConfig {
  const s3Set = [e.S3_ENDPOINT, e.S3_ACCESS_KEY_ID, e.S3_SECRET_ACCESS_KEY].some((v) => v !== undefined);
  if (!e.S3_BUCKET) {
    if (s3Set) problems.push("S3_BUCKET is required when S3_ENDPOINT or S3 credentials are set (or unset them to keep files in DATA_DIR)");
    return { kind: "folder", dataDir: e.DATA_DIR };
  }
  if ((e.S3_ACCESS_KEY_ID === undefined) !== (e.S3_SECRET_ACCESS_KEY === undefined)) {
    problems.push("S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY go together (or set neither to use the AWS SDK's own credentials)");
  }
  return {
    kind: "s3",
    bucket: e.S3_BUCKET,
    endpoint: e.S3_ENDPOINT ?? null,
    region: e.S3_REGION,
    forcePathStyle: e.S3_FORCE_PATH_STYLE,
    prefix: e.S3_PREFIX,
    credentials:
      e.S3_ACCESS_KEY_ID && e.S3_SECRET_ACCESS_KEY ? { accessKeyId: e.S3_ACCESS_KEY_ID, secretAccessKey: e.S3_SECRET_ACCESS_KEY } : null,
  };
}

const DEV_MAIL_FROM = "Credits Studio <no-reply@localhost>";

function mailConfigOf(e: ParsedEnv, isProduction: boolean, problems: string[]): Config["mail"] {
  const outbox = e.MAIL_OUTBOX === "on" || (e.MAIL_OUTBOX === "auto" && !e.SMTP_URL);
  const from = e.MAIL_FROM ?? DEV_MAIL_FROM;
  if (isProduction && outbox && e.MAIL_OUTBOX !== "on") {
    problems.push("SMTP_URL is required in production (smtp://user:pass@host:587), or set MAIL_OUTBOX=on to write mail to $DATA_DIR/outbox on purpose");
  } else if (!outbox && !e.SMTP_URL) {
    problems.push("SMTP_URL is required when MAIL_OUTBOX=off");
  }
  if (isProduction && !outbox && !e.MAIL_FROM) {
    problems.push('MAIL_FROM is required with SMTP in production (e.g. "Credits Studio <no-reply@example.com>")');
  }
  if (outbox || !e.SMTP_URL) return { transport: "outbox", dir: `${e.DATA_DIR.replace(/\/+$/, "")}/outbox`, from };
  return { transport: "smtp", smtpUrl: e.SMTP_URL, from };
}

let current: Config | undefined;

/** Reads process.env once. Called by the server entry before anything else. */
export function initConfig(env: Record<string, string | undefined> = process.env): Config {
  current = parseEnv(env);
  return current;
}

export function getConfig(): Config {
  if (!current) current = parseEnv(process.env);
  return current;
}
