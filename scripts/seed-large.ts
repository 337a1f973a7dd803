/**
 * npm run db:seed-large — fills a FRESH database with many users and a long, consistent ledger,
 * for benchmarks (scripts/bench/pages.ts) and for trying the admin console at scale.
 *
 *   DATABASE_PATH=/tmp/bench.sqlite npm run db:seed-large -- --users 100000 --transactions 1000000
 *
 * Options: --users N (default 100000), --transactions M (default 1000000, sign-up bonuses
 * included), --days D (history spread over the last D days, default 365), --seed S (the random
 * seed: the same options give the same data), --no-verify (skip the ledger check at the end).
 *
 * WHY IT BYPASSES THE LEDGER MODULE. The app's rule is that only app/services/money/ledger.server.ts
 * writes users.credits and transactions. This script writes both with raw prepared statements in
 * big transactions (synchronous=OFF while it runs), because the ledger's one-transaction-per-write
 * with an fsync each would take hours for a million rows. It is safe here, and only here, because:
 * - it refuses any database that already has a user or a transaction: nothing real is touched;
 * - it plays the ledger's own rules while generating (every row's balance_after is the running
 *   balance, spending never goes below zero, voided holds carry their void record, every key is
 *   unique, users.credits is the sum of the counting rows);
 * - it runs the same verifier as `npm run ledger:verify` on the result and exits 1 on a violation.
 * A crash half-way leaves a half-seeded throw-away file: delete it and run again.
 *
 * Seeded accounts (password "password123"): admin@bench.test (an admin when ADMIN_EMAILS lists it;
 * the row is also written with role admin), heavy@bench.test (about 5% of all activity: the worst
 * case for a customer's pages), and user<N>@bench.test. The script prints a "typical" user: one
 * whose number of rows is close to the average.
 */
import path from "node:path";
import { pathToFileURL } from "node:url";
import { closeDatabase, openMigratedDatabase, type AppDb } from "../db/client.server";
import { ledgerKeys } from "../app/services/money/ledger-keys.server";
import { verifyLedger } from "../app/services/money/ledger-verify.server";
import { hashPassword } from "../app/services/password.server";
import { seededRandom } from "./seeded-random";

export const SEED_PASSWORD = "password123";
export const SEED_ADMIN_EMAIL = "admin@bench.test";
export const SEED_HEAVY_EMAIL = "heavy@bench.test";
const DAY_MS = 86_400_000;
const SIGNUP_BONUS = 10;
const BATCH = 50_000;

export type SeedOptions = {
  users: number;
  transactions: number;
  days?: number;
  seed?: number;
  /** Share of the activity rows that belong to heavy@bench.test. */
  heavyShare?: number;
  now?: number;
  verify?: boolean;
  log?: (message: string) => void;
};

export type SeededUser = { id: number; email: string; rows: number };
export type SeedResult = {
  users: number;
  transactions: number;
  password: string;
  admin: SeededUser;
  heavy: SeededUser;
  typical: SeededUser;
  seconds: number;
  violations: number | null;
};

function emailOf(id: number): string {
  if (id === 1) return SEED_ADMIN_EMAIL;
  if (id === 2) return SEED_HEAVY_EMAIL;
  return `user${String(id).padStart(7, "0")}@bench.test`;
}

type TxRow = {
  id: number;
  userId: number;
  amount: number;
  type: string;
  status: string;
  key: string;
  description: string;
  stripePaymentId: string | null;
  balanceAfter: number;
  expiresAt: number | null;
  adminId: number | null;
  reason: string | null;
  meta: string | null;
  createdAt: number;
  settledAt: number | null;
};

export async function seedLarge(db: AppDb, options: SeedOptions): Promise<SeedResult> {
  const started = performance.now();
  const log = options.log ?? (() => {});
  const N = Math.trunc(options.users);
  const M = Math.trunc(options.transactions);
  if (!(N >= 3)) throw new Error(`--users must be at least 3 (admin, heavy, and one more), got ${options.users}`);
  // Every user signs up (one bonus row each) within the first 80% of the rows, one row apart at least.
  if (!(M >= Math.ceil(N * 1.25))) throw new Error(`--transactions must be at least 1.25 × users (${Math.ceil(N * 1.25)}), got ${M}`);
  const counts = db.sqlite.prepare("SELECT (SELECT count(*) FROM users) AS users, (SELECT count(*) FROM transactions) AS txs").get() as {
    users: number;
    txs: number;
  };
  if (counts.users > 0 || counts.txs > 0) {
    throw new Error(`refusing to seed ${db.path}: it already has ${counts.users} users and ${counts.txs} transactions (use a fresh file)`);
  }

  const random = seededRandom(options.seed ?? 20261125);
  const now = options.now ?? Date.now();
  const days = options.days ?? 365;
  const start = now - days * DAY_MS;
  const end = now - 60_000;
  const timeOf = (row: number) => Math.floor(start + ((end - start) * row) / M);
  const heavyShare = options.heavyShare ?? 0.05;
  // User k+1 signs up at this row: the admin and heavy@ first, the others spread over 80% of the rows.
  const signupRow = (k: number) => (k < 3 ? k : Math.floor((k * 0.8 * M) / N));

  const passwordHash = await hashPassword(SEED_PASSWORD);
  const { sqlite } = db;
  // Throw-away file until verified: trade durability for speed while seeding (see the header).
  sqlite.pragma("synchronous = OFF");
  sqlite.pragma("cache_size = -262144");

  // Users first (the ledger rows reference them), balances written at the end. Verified at
  // sign-up: an unverified admin is no admin (decision 018), and the bench logs in as one.
  const insertUser = sqlite.prepare(
    `INSERT INTO users (id, email, password_hash, role, credits, email_verified_at, created_at, updated_at) VALUES (?, ?, ?, ?, 0, ?, ?, ?)`,
  );
  for (let from = 1; from <= N; from += BATCH) {
    sqlite.transaction(() => {
      for (let id = from; id < Math.min(N + 1, from + BATCH); id++) {
        const at = timeOf(signupRow(id - 1));
        insertUser.run(id, emailOf(id), passwordHash, id === 1 ? "admin" : "user", at, at, at);
      }
    })();
  }
  log(`users: ${N} inserted`);

  const balance = new Float64Array(N + 1);
  const lastTime = new Float64Array(N + 1);
  const rows = new Int32Array(N + 1);
  const lastPurchaseRow = new Int32Array(N + 1).fill(-1);
  const lastPurchaseCredits = new Int32Array(N + 1);

  const insertTx = sqlite.prepare(
    `INSERT INTO transactions (id, user_id, amount, type, status, idempotency_key, description, stripe_payment_id,
       balance_after, expires_at, admin_id, reason, meta, created_at, settled_at)
     VALUES (@id, @userId, @amount, @type, @status, @key, @description, @stripePaymentId,
       @balanceAfter, @expiresAt, @adminId, @reason, @meta, @createdAt, @settledAt)`,
  );

  const pendingFrom = Math.floor(M * 0.9995); // the last rows may leave holds pending (still running)
  let signedUp = 0;

  function row(i: number): TxRow {
    const id = i + 1;
    const at = timeOf(i);
    const base = {
      id,
      status: "posted",
      stripePaymentId: null,
      expiresAt: null,
      adminId: null,
      reason: null,
      meta: null,
      createdAt: at,
      settledAt: at,
    };
    if (signedUp < N && i >= signupRow(signedUp)) {
      const userId = ++signedUp;
      balance[userId] = SIGNUP_BONUS;
      return { ...base, userId, amount: SIGNUP_BONUS, type: "bonus", key: ledgerKeys.signupBonus(userId), description: "Sign-up bonus", balanceAfter: SIGNUP_BONUS };
    }
    // Activity: heavy@bench.test gets its share; the rest go to the regular users signed up so far.
    const userId = random() < heavyShare ? 2 : 3 + Math.floor(random() * (signedUp - 2));
    const b = balance[userId];
    const r = random();
    const cost = random() < 0.8 ? 5 : 50;
    const purchase = (): TxRow => {
      const credits = random() < 0.7 ? 500 : 2000;
      balance[userId] = b + credits;
      lastPurchaseRow[userId] = i;
      lastPurchaseCredits[userId] = credits;
      return {
        ...base,
        userId,
        amount: credits,
        type: "purchase",
        key: `checkout:cs_seed_${id}`,
        description: `Bought ${credits} credits`,
        stripePaymentId: `pi_seed_${id}`,
        balanceAfter: b + credits,
        meta: JSON.stringify({ checkoutSessionId: `cs_seed_${id}`, amountTotal: credits, currency: "usd", pack: credits === 500 ? "default" : "large" }),
      };
    };
    const usage = (status: "posted" | "pending"): TxRow => {
      balance[userId] = b - cost;
      return {
        ...base,
        userId,
        amount: -cost,
        type: "usage",
        status,
        key: ledgerKeys.seeded(id),
        description: cost === 5 ? "Image generation" : "Video generation (720p)",
        balanceAfter: b - cost,
        expiresAt: status === "pending" ? now + 30 * DAY_MS : at + 600_000,
        settledAt: status === "pending" ? null : at + 2_000,
        meta: JSON.stringify({ seeded: true }),
      };
    };
    if (r < 0.5) {
      if (b < cost) return purchase();
      return usage(i >= pendingFrom && random() < 0.3 ? "pending" : "posted");
    }
    if (r < 0.56) {
      if (b < cost) return purchase();
      // A failed generation: the hold was voided right after, the balance is back where it was.
      const hold = usage("posted");
      balance[userId] = b;
      return {
        ...hold,
        status: "voided",
        meta: JSON.stringify({ voidReason: "provider_failed", voidBalanceAfter: b, voidAfterId: id }),
      };
    }
    if (r < 0.76) return purchase();
    if (r < 0.8) {
      const amount = 10 + Math.floor(random() * 91);
      balance[userId] = b + amount;
      return { ...base, userId, amount, type: "bonus", key: ledgerKeys.seeded(id), description: "Promotion", balanceAfter: b + amount };
    }
    if (r < 0.83) {
      let amount = 1 + Math.floor(random() * 200);
      if (random() < 0.4 && b >= amount) amount = -amount;
      balance[userId] = b + amount;
      return {
        ...base,
        userId,
        amount,
        type: "adjustment",
        key: `admin-adjust:seed-${id}`,
        description: "Balance adjustment",
        balanceAfter: b + amount,
        adminId: 1,
        reason: "Seeded correction",
      };
    }
    if (r < 0.845 && lastPurchaseRow[userId] >= 0 && b > 0) {
      // A refunded payment: its credits are clawed back, at most the balance here: the seeded
      // balances become one opening grant each at the end, and a debt would need its draws.
      const credits = Math.min(lastPurchaseCredits[userId], b);
      const purchaseId = lastPurchaseRow[userId] + 1;
      lastPurchaseRow[userId] = -1;
      balance[userId] = b - credits;
      return {
        ...base,
        userId,
        amount: -credits,
        type: "refund",
        key: `refund:ch_seed_${purchaseId}:${credits}`,
        description: "Payment refunded: credits taken back",
        stripePaymentId: `pi_seed_${purchaseId}`,
        balanceAfter: b - credits,
      };
    }
    if (b < cost) return purchase();
    return usage("posted");
  }

  for (let from = 0; from < M; from += BATCH) {
    sqlite.transaction(() => {
      for (let i = from; i < Math.min(M, from + BATCH); i++) {
        const tx = row(i);
        rows[tx.userId]++;
        lastTime[tx.userId] = tx.createdAt;
        insertTx.run(tx);
      }
    })();
    if ((from / BATCH) % 4 === 3) log(`transactions: ${Math.min(M, from + BATCH)} / ${M}`);
  }

  const setBalance = sqlite.prepare(`UPDATE users SET credits = ?, updated_at = ? WHERE id = ?`);
  // Each balance as one grant that never expires (an `opening` grant, as for credits older than
  // grants, decision 022), so the ledger's grant invariants hold
  // on the seeded file: users.credits == what its unclosed grants hold.
  const openGrant = sqlite.prepare(
    `INSERT INTO credit_grants (user_id, source_tx_id, kind, amount, remaining, expires_at, created_at) VALUES (?, NULL, ?, ?, ?, NULL, ?)`,
  );
  sqlite.transaction(() => {
    for (let id = 1; id <= N; id++) {
      setBalance.run(balance[id], lastTime[id], id);
      if (balance[id] > 0) openGrant.run(id, "opening", balance[id], balance[id], lastTime[id]);
    }
  })();
  sqlite.pragma("synchronous = FULL");
  log(`balances: ${N} written`);

  // "Typical": a regular user with about the average number of rows.
  const average = (M - rows[2]) / (N - 1);
  let typical = 3;
  for (let id = 3; id <= N; id++) {
    if (Math.abs(rows[id] - average) < Math.abs(rows[typical] - average)) typical = id;
  }

  let violations: number | null = null;
  if (options.verify !== false) {
    const verifyStarted = performance.now();
    const report = verifyLedger(db, { sweepGraceMs: 10 * 60_000, now });
    violations = report.violations.length;
    log(`ledger verified in ${Math.round(performance.now() - verifyStarted)} ms: ${violations} violation(s)`);
    for (const v of report.violations.slice(0, 10)) log(`  - ${v.kind} user ${v.userId ?? "-"} tx ${v.transactionId ?? "-"}: ${v.detail}`);
  }

  const user = (id: number): SeededUser => ({ id, email: emailOf(id), rows: rows[id] });
  return {
    users: N,
    transactions: M,
    password: SEED_PASSWORD,
    admin: user(1),
    heavy: user(2),
    typical: user(typical),
    seconds: Math.round((performance.now() - started) / 100) / 10,
    violations,
  };
}

function parseArgs(argv: string[]): SeedOptions & { database: string } {
  const value = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const int = (name: string, fallback: number): number => {
    const raw = value(name);
    if (raw === undefined) return fallback;
    const n = Number(raw.replace(/_/g, ""));
    if (!Number.isSafeInteger(n) || n < 0) throw new Error(`--${name} must be a whole number, got ${raw}`);
    return n;
  };
  const database = value("db") ?? process.env.DATABASE_PATH;
  if (!database) throw new Error("set DATABASE_PATH (or --db FILE): the fresh database file to seed");
  return {
    database,
    users: int("users", 100_000),
    transactions: int("transactions", 1_000_000),
    days: int("days", 365),
    seed: int("seed", 20261125),
    verify: !argv.includes("--no-verify"),
  };
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const file = path.resolve(args.database);
  const db = openMigratedDatabase(file);
  try {
    const result = await seedLarge(db, { ...args, log: (m) => console.log(`  ${m}`) });
    console.log(`seeded ${file}: ${result.users} users, ${result.transactions} transactions in ${result.seconds} s`);
    console.log(`  password for every account: ${result.password}`);
    for (const who of ["admin", "heavy", "typical"] as const) {
      console.log(`  ${who}: ${result[who].email} (id ${result[who].id}, ${result[who].rows} rows)`);
    }
    return result.violations ? 1 : 0;
  } finally {
    closeDatabase(db);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  main().then(
    (code) => (process.exitCode = code),
    (error: unknown) => {
      console.error(`db:seed-large: ${error instanceof Error ? error.message : String(error)}`);
      process.exitCode = 2;
    },
  );
}
