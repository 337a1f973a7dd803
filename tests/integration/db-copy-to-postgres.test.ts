import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closePgDatabase, migratePgDatabase, openPgDatabase } from "../../db/pg-client.server";
import { DERIVED_TABLES } from "../../db/sqlite-to-postgres.server";
import { signUp } from "../../app/services/accounts/signup.server";
import { markAddressVerified } from "../../app/services/accounts/verification.server";
import { setBalanceAlert } from "../../app/services/alerts/balance-alerts.server";
import { issueApiKey } from "../../app/services/api-keys/api-keys.server";
import { authLimitsFromConfig, createAuthRateLimiter } from "../../app/services/auth-rate-limit.server";
import { parseEnv, type Config } from "../../app/services/env.server";
import { createGenerationService } from "../../app/services/generation.server";
import { placeAccountHold } from "../../app/services/money/account-holds.server";
import { recordCheckoutStarted, markCheckout } from "../../app/services/money/checkout-attempts.server";
import { adjust, clawback, expireDueGrants, getBalance, grant, hold, reverseClawback, voidHold } from "../../app/services/money/ledger.server";
import { createRedeemCode } from "../../app/services/money/redeem-codes.server";
import { redeemCode } from "../../app/services/money/redemptions.server";
import { createRedeemLimiter } from "../../app/services/money/redemption-limits.server";
import { memoryLimiterStore } from "../../app/services/limiter-store.server";
import { createLocalProvider } from "../../app/services/providers/local.server";
import { findUserByEmail } from "../../app/services/users.server";
import { createTestDb } from "../support/db";
import { spendNow } from "../support/ledger";
import { startPostgres, type PgServer } from "../support/postgres";
import { ROOT } from "../support/server";

// npm run db:copy-to-postgres as an operator runs it to move to PostgreSQL: a SQLite database the
// app's own services filled (sign-ups, purchases, holds, generations, clawbacks, codes, keys...),
// copied into an empty, migrated PostgreSQL database, then compared row by row.

const quiet = { info: () => {}, warn: () => {}, error: () => {} };
let server: PgServer;
const source = createTestDb();
let config: Config;

beforeAll(async () => {
  server = await startPostgres();
  config = parseEnv({ DATA_DIR: source.dir, RATE_LIMIT_DISABLED: "1", AUTH_RATE_LIMIT_DISABLED: "1", SIGNUP_BONUS_CREDITS: "25" });
  await populate();
}, 120_000);

afterAll(async () => {
  source.remove();
  if (server) await server.stop();
});

/** Every kind of row the app writes, written by the app's services (raw SQL only where a Stripe
 * event would be needed to reach a table). */
async function populate() {
  const db = source;
  const limiter = createAuthRateLimiter(authLimitsFromConfig(config), memoryLimiterStore);
  const now = Date.now();
  for (const email of ["ada@example.com", "bob@example.com", "cy@example.com", "admin@example.com"]) {
    expect(await signUp({ db, config, limiter }, { ip: "127.0.0.1", email, password: "correct horse battery", honeypotFilled: false })).toEqual({ ok: true });
  }
  const [ada, bob, cy, admin] = await Promise.all(["ada", "bob", "cy", "admin"].map(async (n) => (await findUserByEmail(db, `${n}@example.com`))!));
  for (const user of [ada, bob, admin]) await db.sql.write(async (tx) => await markAddressVerified(tx, config, user, now)); // sign-up bonus grants
  db.sqlite.prepare("UPDATE users SET role = 'admin' WHERE id = ?").run(admin.id);

  await recordCheckoutStarted(db, { sessionId: "cs_ada_1", userId: ada.id, pack: "default", credits: 500, amountTotal: 1000, currency: "usd" });
  await markCheckout(db, "cs_ada_1", "paid");
  await recordCheckoutStarted(db, { sessionId: "cs_bob_1", userId: bob.id, pack: "default", credits: 500, amountTotal: 1000, currency: "usd" });
  await markCheckout(db, "cs_bob_1", "failed");
  const purchase = await grant(db, { userId: ada.id, amount: 500, type: "purchase", key: "purchase:cs_ada_1", description: "500 credits", stripePaymentId: "pi_ada_1", meta: { pack: "default", amountTotal: 1000 } });
  const shortLived = Date.now();
  await grant(db, { userId: bob.id, amount: 100, type: "purchase", key: "purchase:cs_bob_2", description: "100 credits", stripePaymentId: "pi_bob_2", now: shortLived, expiresAt: shortLived + 1000 });
  await grant(db, { userId: cy.id, amount: 40, type: "plan", key: "invoice:in_cy_1", description: "Starter plan", expiresAt: Date.now() + 30 * 86_400_000 });

  const generation = createGenerationService({ db, config, provider: createLocalProvider({ videoDurationMs: 10 }), log: quiet, pollIntervalMs: () => 5 });
  try {
    expect((await generation.generateImage(ada.id, { prompt: "a lighthouse at dusk", size: "256x256" })).ok).toBe(true);
    expect((await generation.generateImage(cy.id, { prompt: "a harbour", size: "256x256" })).ok).toBe(true);
  } finally {
    await generation.stop();
  }
  await spendNow(db, ada.id, 7, "spent at once");
  const voided = await hold(db, { userId: ada.id, cost: 11, key: "usage:job-voided", description: "a failed job", ttlSeconds: 600 });
  if (!voided.ok) throw new Error("hold refused");
  await voidHold(db, voided.transaction.id, "provider_failed");
  await hold(db, { userId: bob.id, cost: 9, key: "usage:job-pending", description: "still running", ttlSeconds: 600 });
  const key = await issueApiKey(db, { userId: ada.id, name: "ci", monthlyCreditLimit: 100 });
  await hold(db, { userId: ada.id, cost: 3, key: "usage:api-1", description: "via the API", ttlSeconds: 600, apiKey: { id: key.id, monthlyLimit: 100 } });

  await adjust(db, { userId: bob.id, amount: 15, adminId: admin.id, reason: "goodwill", key: "admin:form-1", type: "bonus" });
  await adjust(db, { userId: bob.id, amount: -4, adminId: admin.id, reason: "correction", key: "admin:form-2" });
  // A refund larger than what is left: the balance goes below zero through the debt grant.
  await clawback(db, { userId: ada.id, amount: 520, key: "refund:re_1", description: "Refunded", stripePaymentId: "pi_ada_1", purchaseTransactionId: purchase.transaction.id });
  await clawback(db, { userId: cy.id, amount: 5, key: "dispute:dp_1", description: "Disputed" });
  await reverseClawback(db, { reversesKey: "dispute:dp_1", key: "dispute-won:dp_1", description: "Dispute won" });
  await expireDueGrants(db, shortLived + 2000); // bob's short-lived purchase
  await placeAccountHold(db, ada.id, "dispute opened");
  await setBalanceAlert(db, bob.id, 50);

  const code = await createRedeemCode(db, { adminId: admin.id, code: "SPRING", credits: 30, creditsExpireAfterMs: null, maxRedemptions: 10, redeemableUntil: null, token: "t1" });
  if (!code.ok) throw new Error(code.message);
  const redeemLimiter = createRedeemLimiter({ failuresPerUser: 10, failuresPerIp: 50, windowSeconds: 3600 }, memoryLimiterStore);
  expect((await redeemCode({ db, limiter: redeemLimiter }, { userId: bob.id, code: "SPRING", ip: "127.0.0.1" })).ok).toBe(true);

  // Tables only a Stripe event reaches: rows as the webhook writes them.
  const raw = db.sqlite;
  raw.prepare("INSERT INTO stripe_events (id, type, stripe_created, processed_at, attempts, outcome) VALUES ('evt_1', 'charge.refunded', 1700000000, ?, 1, 'processed')").run(now);
  raw.prepare("INSERT INTO disputes (id, user_id, payment_intent_id, status, funds_withdrawn, credits_taken) VALUES ('dp_1', ?, 'pi_cy', 'won', 1, 5)").run(cy.id);
  raw.prepare("INSERT INTO subscriptions (id, user_id, stripe_customer_id, plan_id, price_id, status, cancel_at_period_end) VALUES ('sub_1', ?, 'cus_cy', 'starter', 'price_plan_starter', 'active', 1)").run(cy.id);
  raw.prepare("INSERT INTO subscription_periods (invoice_id, subscription_id, user_id, plan_id, status, period_start, period_end, amount_paid, currency) VALUES ('in_cy_1', 'sub_1', ?, 'starter', 'paid', ?, ?, 900, 'usd')").run(cy.id, now, now + 30 * 86_400_000);
  raw.prepare("INSERT INTO saved_cards (user_id, payment_method_id, brand, last4) VALUES (?, 'pm_1', 'visa', '4242')").run(ada.id);
  raw.prepare("INSERT INTO auto_recharge_settings (user_id, enabled, threshold_credits, pack_id, max_recharges_per_month) VALUES (?, 1, 20, 'default', 3)").run(ada.id);
  raw.prepare("INSERT INTO auto_recharge_attempts (user_id, pack_id, credits, amount, currency, payment_method_id, status, balance_at_claim, threshold_credits) VALUES (?, 'default', 500, 1000, 'usd', 'pm_1', 'claimed', 5, 20)").run(ada.id);
  raw.prepare("INSERT INTO sessions (id, user_id, data, expires_at, user_agent, ip) VALUES ('sess_1', ?, '{\"flash\":\"héllo ✓\"}', ?, 'Mozilla/5.0', '127.0.0.1')").run(ada.id, now + 86_400_000);
  // More rows than one batch, and ids SQLite gave out and then deleted (PostgreSQL must not reuse them).
  const audit = raw.prepare("INSERT INTO audit_log (actor_id, action, target_user_id, reason, details) VALUES (?, 'note', ?, ?, NULL)");
  raw.transaction(() => {
    for (let i = 0; i < 2500; i++) audit.run(admin.id, bob.id, `note ${i}`);
  })();
  raw.prepare("DELETE FROM audit_log WHERE id > (SELECT max(id) - 10 FROM audit_log)").run();
  expect(getBalance(db, ada.id).balance).toBeLessThan(0);
}

/** Runs the script as an operator does; several may run at once (each start costs seconds). */
function copy(env: Record<string, string>): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(path.join(ROOT, "node_modules/.bin/tsx"), ["scripts/db-copy-to-postgres.ts"], {
      cwd: ROOT,
      env: { NODE_ENV: "production", PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, out, err }));
  });
}

async function migratedDatabase(): Promise<string> {
  const url = await server.createDatabase();
  const db = openPgDatabase(url, { max: 1 });
  try {
    await migratePgDatabase(db);
  } finally {
    await closePgDatabase(db);
  }
  return url;
}

async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, types: { getTypeParser: (oid: number, format?: string) => (oid === 20 ? Number : pg.types.getTypeParser(oid, format as "text")) } as pg.CustomTypesConfig });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

function sqliteTables(file: string): Array<{ name: string; keys: string[] }> {
  const db = new Database(file, { readonly: true });
  try {
    return db
      .prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name != '__drizzle_migrations' ORDER BY name")
      .all()
      .map(({ name }) => ({
        name,
        keys: db.prepare<[], { name: string; pk: number }>(`SELECT name, pk FROM pragma_table_info('${name}') WHERE pk > 0 ORDER BY pk`).all().map((c) => c.name),
      }));
  } finally {
    db.close();
  }
}

function sqliteRows(file: string, table: string, keys: string[]): unknown[] {
  const db = new Database(file, { readonly: true });
  try {
    return db.prepare(`SELECT * FROM "${table}" ORDER BY ${keys.map((k) => `"${k}"`).join(", ")}`).all();
  } finally {
    db.close();
  }
}

describe("npm run db:copy-to-postgres", () => {
  // Each test starts the script (tsx) once or more: seconds each on a busy machine.
  it("copies every table of a SQLite database the app filled, row for row, and verifies the ledger", { timeout: 120_000 }, async () => {
    const url = await migratedDatabase();
    const run = await copy({ DATABASE_PATH: source.path, DATABASE_URL: url });
    expect(run.err).toBe("");
    expect(run.code).toBe(0);
    expect(run.out).toContain(`db:copy-to-postgres ${source.path} → ${url}`);
    const auditRows = sqliteRows(source.path, "audit_log", ["id"]).length;
    expect(auditRows).toBeGreaterThan(2000); // more than one batch
    expect(run.out).toMatch(new RegExp(`audit_log\\s+${auditRows} rows`));
    expect(run.out).toMatch(/verified: every table's row count, and for each of 4 users credits == the sum of its counting ledger rows/);
    expect(run.out).toMatch(/OK: \d+ rows copied/);

    const tables = sqliteTables(source.path).filter((t) => !(t.name in DERIVED_TABLES));
    expect(tables.length).toBeGreaterThan(15);
    let compared = 0;
    await withClient(url, async (client) => {
      // Derived tables are rebuilt by PostgreSQL's triggers (their shards differ): the same figures.
      for (const [name, figures] of Object.entries(DERIVED_TABLES)) {
        const asText = (rows: unknown[]) => rows.map((r) => JSON.stringify(Object.values(r as object).map(String))).sort();
        const expected = asText(new Database(source.path, { readonly: true }).prepare(figures).all());
        expect(expected.length).toBeGreaterThan(0);
        expect({ table: name, figures: asText((await client.query(figures)).rows) }).toEqual({ table: name, figures: expected });
      }
      for (const { name, keys } of tables) {
        const expected = sqliteRows(source.path, name, keys);
        const { rows } = await client.query(`SELECT * FROM "${name}" ORDER BY ${keys.map((k) => `"${k}"`).join(", ")}`);
        expect({ table: name, rows }).toEqual({ table: name, rows: expected });
        if (expected.length > 0) compared++;
      }
      // Ids keep going where SQLite's left off, never reusing a deleted one.
      const seq = new Database(source.path, { readonly: true }).prepare<[], { seq: number }>("SELECT seq FROM sqlite_sequence WHERE name = 'audit_log'").get()!.seq;
      const next = await client.query("INSERT INTO audit_log (actor_id, action) VALUES (1, 'after the move') RETURNING id");
      expect(next.rows[0].id).toBe(seq + 1);
      const tx = await client.query("INSERT INTO transactions (user_id, amount, type, idempotency_key, description, balance_after) VALUES (1, 1, 'bonus', 'after-move', 'x', 0) RETURNING id");
      expect(tx.rows[0].id).toBeGreaterThan(Number((await client.query("SELECT max(id) FROM transactions WHERE idempotency_key <> 'after-move'")).rows[0].max));
    });
    // Every table the app has held rows, so the comparison above covered each of them.
    expect(compared).toBe(tables.length);
  });

  it("refuses a target that already holds rows, and leaves it as it was", { timeout: 120_000 }, async () => {
    const url = await migratedDatabase();
    expect((await copy({ DATABASE_PATH: source.path, DATABASE_URL: url })).code).toBe(0);
    const counted = async () => await withClient(url, async (c) => (await c.query("SELECT (SELECT count(*) FROM users) + (SELECT count(*) FROM transactions) AS n")).rows[0].n);
    const before = await counted();
    const again = await copy({ DATABASE_PATH: source.path, DATABASE_URL: url });
    expect(again.code).toBe(2);
    expect(again.err.trim()).toMatch(/^db:copy-to-postgres: the PostgreSQL database already holds rows \(.*users.*\): the copy needs an empty, migrated database; nothing was copied$/);
    expect(await counted()).toBe(before);
  });

  it("keeps nothing when the copy does not verify (a source whose ledger is already off)", { timeout: 120_000 }, async () => {
    const broken = path.join(source.dir, "broken.sqlite");
    source.sqlite.prepare("VACUUM INTO ?").run(broken);
    const db = new Database(broken);
    db.prepare("UPDATE users SET credits = credits + 1 WHERE email = 'bob@example.com'").run();
    db.close();
    const url = await migratedDatabase();
    const run = await copy({ DATABASE_PATH: broken, DATABASE_URL: url });
    expect(run.code).toBe(1);
    expect(run.err).toMatch(/the copy did not verify, nothing was kept: user \d+: credits \d+ but the counting ledger rows sum to \d+; the SQLite database already disagrees with its ledger/);
    expect(await withClient(url, async (c) => (await c.query("SELECT count(*) AS n FROM users")).rows[0].n)).toBe(0);
  });

  it("keeps nothing when the figures PostgreSQL rebuilds differ from SQLite's kept totals", { timeout: 120_000 }, async () => {
    const tampered: Array<[string, string, RegExp]> = [
      ["daily_totals", "UPDATE daily_totals SET credits = credits + 1 WHERE rowid = (SELECT max(rowid) FROM daily_totals)", /daily_totals: the figures PostgreSQL rebuilt from the copied rows differ from SQLite's in 1 group/],
      ["user_daily_totals", "UPDATE user_daily_totals SET user_id = user_id + 100000 WHERE rowid = (SELECT min(rowid) FROM user_daily_totals WHERE credits <> 0)", /user_daily_totals: the figures PostgreSQL rebuilt .* differ from SQLite's in 1 group/],
      ["user_totals", "UPDATE user_totals SET users = users + 1", /user_totals: the figures PostgreSQL rebuilt .* differ/],
    ];
    for (const [table, change, message] of tampered) {
      const file = path.join(source.dir, `tampered-${table}.sqlite`);
      source.sqlite.prepare("VACUUM INTO ?").run(file);
      const db = new Database(file);
      expect(db.prepare(change).run().changes).toBe(1);
      db.close();
      const url = await migratedDatabase();
      const run = await copy({ DATABASE_PATH: file, DATABASE_URL: url });
      expect({ table, code: run.code }).toEqual({ table, code: 1 });
      expect(run.err).toMatch(message);
      expect(await withClient(url, async (c) => (await c.query("SELECT count(*) AS n FROM transactions")).rows[0].n)).toBe(0);
    }
  });

  it("refuses a bad, missing or unreachable DATABASE_URL, an unmigrated target and a missing source, with one line each", { timeout: 120_000 }, async () => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ DATABASE_PATH: source.path }, /^db:copy-to-postgres: DATABASE_URL is required/],
      [{ DATABASE_PATH: source.path, DATABASE_URL: "mysql://app:hunter2@db/credits" }, /^db:copy-to-postgres: DATABASE_URL must be a postgres:\/\/ or postgresql:\/\/ URL/],
      [{ DATABASE_PATH: source.path, DATABASE_URL: `postgres://app:hunter2@127.0.0.1:1/credits` }, /^db:copy-to-postgres: cannot reach the database at postgres:\/\/app:\*\*\*@127\.0\.0\.1:1\/credits/],
      [{ DATABASE_PATH: source.path, DATABASE_URL: await server.createDatabase() }, /is not migrated: run DATABASE_URL=… npm run db:migrate first/],
      [{ DATABASE_PATH: path.join(source.dir, "nope.sqlite"), DATABASE_URL: server.url }, /^db:copy-to-postgres: no SQLite database at .*nope\.sqlite/],
    ];
    const runs = await Promise.all(cases.map(([env]) => copy(env)));
    for (const [i, [env, expected]] of cases.entries()) {
      const run = runs[i];
      expect({ env, code: run.code }).toEqual({ env, code: 2 });
      expect(run.err).toMatch(expected);
      expect(run.err.trim().split("\n")).toHaveLength(1);
      expect(run.err).not.toContain("hunter2");
    }
    expect(fs.existsSync(path.join(source.dir, "nope.sqlite"))).toBe(false);
  });
});
