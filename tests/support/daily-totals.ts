import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type Database from "better-sqlite3";
import type { AppDb } from "../../db/client.server";
import { MIGRATIONS_DIR } from "../../db/client.server";
import {
  adjust,
  clawback,
  expireDueGrants,
  grant,
  hold,
  LedgerError,
  postHold,
  reverseClawback,
  sweepExpiredHolds,
  voidHold,
  type GrantType,
} from "../../app/services/money/ledger.server";
import { seededRandom } from "../../scripts/seeded-random";

// Shared by the daily-totals tests (decision 037): a random mix of ledger writes through the
// ledger's public API, and the two ways of reading the figures that must agree.

export const HOUR_MS = 3_600_000;

export type Figures = { day: number; type: string; status: string; currency: string; credits: number; revenue: number; rows: number };

/** What daily_totals must hold, straight from the ledger rows (the query the overview ran before;
 * a meta that is not JSON counts as no money, where that query failed the whole page). */
export function directFigures(sqlite: Database.Database): Figures[] {
  return sqlite
    .prepare<[], Figures>(
      `SELECT created_at / 86400000 AS day, type, status,
         CASE WHEN type = 'purchase' AND json_valid(meta) THEN coalesce(lower(json_extract(meta, '$.currency')), '') ELSE '' END AS currency,
         sum(amount) AS credits,
         sum(CASE WHEN type = 'purchase' AND json_valid(meta) THEN coalesce(json_extract(meta, '$.amountTotal'), 0) ELSE 0 END) AS revenue,
         count(*) AS rows
       FROM transactions GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4`,
    )
    .all();
}

/** What the triggers kept, shards summed; a group every row of which moved away is no figure. */
export function keptFigures(sqlite: Database.Database): Figures[] {
  return sqlite
    .prepare<[], Figures>(
      `SELECT day, type, status, currency, sum(credits) AS credits, sum(revenue_minor) AS revenue, sum(row_count) AS rows
       FROM daily_totals GROUP BY 1, 2, 3, 4
       HAVING sum(row_count) <> 0 OR sum(credits) <> 0 OR sum(revenue_minor) <> 0
       ORDER BY 1, 2, 3, 4`,
    )
    .all();
}

export type UserDayFigures = { userId: number; day: number; type: string; status: string; credits: number; rows: number };

export function directUserDayFigures(sqlite: Database.Database): UserDayFigures[] {
  return sqlite
    .prepare<[], UserDayFigures>(
      `SELECT user_id AS userId, created_at / 86400000 AS day, type, status, sum(amount) AS credits, count(*) AS rows
       FROM transactions GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4`,
    )
    .all();
}

export function keptUserDayFigures(sqlite: Database.Database): UserDayFigures[] {
  return sqlite
    .prepare<[], UserDayFigures>(
      `SELECT user_id AS userId, day, type, status, credits, row_count AS rows FROM user_daily_totals
       WHERE row_count <> 0 OR credits <> 0 ORDER BY 1, 2, 3, 4`,
    )
    .all();
}

export function directUserFigures(sqlite: Database.Database): { users: number; credits: number } {
  return sqlite.prepare<[], { users: number; credits: number }>("SELECT count(*) AS users, coalesce(sum(credits), 0) AS credits FROM users").get()!;
}

export function keptUserFigures(sqlite: Database.Database): { users: number; credits: number } {
  return sqlite.prepare<[], { users: number; credits: number }>("SELECT coalesce(sum(users), 0) AS users, coalesce(sum(credits), 0) AS credits FROM user_totals").get()!;
}

const GRANT_TYPES: GrantType[] = ["purchase", "topup", "bonus", "plan", "redeem"];
const CURRENCIES = ["usd", "EUR", "gbp"];

export type Workload = { now: number; writes: Record<string, number> };

/**
 * `steps` random ledger writes for `userIds` (and `adminId` for adjustments), the clock moving
 * forward by up to 30 hours at a time so rows land on many UTC days: grants of every type (paid
 * purchases in several currencies, some expiring), holds posted, voided or left to the sweeper,
 * admin adjustments both ways, clawbacks and their reversals, grant expiries. Refusals the ledger
 * answers (insufficient credits, a hold already settled) are part of the mix: they must change
 * no figure either.
 */
export async function runLedgerWorkload(db: AppDb, opts: { seed: number; steps: number; userIds: number[]; adminId: number; start: number }): Promise<Workload> {
  const random = seededRandom(opts.seed);
  const pick = <T>(items: T[]): T => items[Math.floor(random() * items.length)]!;
  const int = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));
  let now = opts.start;
  let n = 0;
  const holds: number[] = [];
  const purchases: Array<{ id: number; userId: number; paymentId: string }> = [];
  const clawbacks: string[] = [];
  const writes: Record<string, number> = {};
  const count = (op: string) => (writes[op] = (writes[op] ?? 0) + 1);
  for (let step = 0; step < opts.steps; step++) {
    const userId = pick(opts.userIds);
    const key = `totals-test:${opts.seed}:${++n}`;
    const roll = random();
    try {
      if (roll < 0.25) {
        const type = pick(GRANT_TYPES);
        const paymentId = `pi_totals_${opts.seed}_${n}`;
        const meta = type === "purchase" ? (random() < 0.9 ? { amountTotal: int(100, 9_900), currency: pick(CURRENCIES) } : { pack: "no price recorded" }) : undefined;
        const expiresAt = random() < 0.4 ? now + int(1, 72) * HOUR_MS : null;
        const written = await grant(db, { userId, key, type, amount: int(1, 200), description: `grant ${type}`, meta, stripePaymentId: type === "purchase" ? paymentId : null, expiresAt, now });
        if (type === "purchase") purchases.push({ id: written.transaction.id, userId, paymentId });
        count(`grant:${type}`);
      } else if (roll < 0.5) {
        const held = await hold(db, { userId, cost: int(1, 60), key, description: "generation", ttlSeconds: int(1, 48) * 3600, now });
        if (held.ok) holds.push(held.transaction.id);
        count(held.ok ? "hold" : "hold:refused");
      } else if (roll < 0.62 && holds.length) {
        await postHold(db, holds.splice(int(0, holds.length - 1), 1)[0]!, now);
        count("post");
      } else if (roll < 0.72 && holds.length) {
        await voidHold(db, holds.splice(int(0, holds.length - 1), 1)[0]!, "failed", now);
        count("void");
      } else if (roll < 0.78) {
        const amount = random() < 0.5 ? int(1, 50) : -int(1, 50);
        const result = await adjust(db, { userId, amount, adminId: opts.adminId, reason: "support ticket", key, type: amount > 0 && random() < 0.5 ? "bonus" : "adjustment", now });
        count(result.ok ? `adjust:${amount > 0 ? "up" : "down"}` : "adjust:refused");
      } else if (roll < 0.84 && purchases.length) {
        const p = pick(purchases);
        await clawback(db, { userId: p.userId, amount: int(1, 100), key, description: "refund", stripePaymentId: p.paymentId, purchaseTransactionId: p.id, now });
        clawbacks.push(key);
        count("clawback");
      } else if (roll < 0.87 && clawbacks.length) {
        await reverseClawback(db, { reversesKey: clawbacks.splice(int(0, clawbacks.length - 1), 1)[0]!, key, description: "dispute won", now });
        count("reverse");
      } else if (roll < 0.92) {
        count(`expire:${await expireDueGrants(db, now) > 0 ? "some" : "none"}`);
        count(`sweep:${await sweepExpiredHolds(db, now) > 0 ? "some" : "none"}`);
      } else {
        now += int(1, 30 * 60) * 60_000;
        count("tick");
      }
    } catch (error) {
      // A hold the sweeper voided meanwhile cannot be posted: a refusal, and nothing changed.
      if (!(error instanceof LedgerError)) throw error;
      count(`refused:${error.code}`);
    }
  }
  return { now, writes };
}

/** A copy of the SQLite migrations that stops after `lastTag`: a database as an older release left it. */
export function migrationsUpTo(lastTag: string, source = MIGRATIONS_DIR): { dir: string; remove(): void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "credits-migrations-"));
  const journal = JSON.parse(fs.readFileSync(path.join(source, "meta/_journal.json"), "utf8")) as { entries: Array<{ idx: number; tag: string }> };
  const last = journal.entries.findIndex((e) => e.tag === lastTag);
  if (last < 0) throw new Error(`no migration ${lastTag} in ${source}`);
  const entries = journal.entries.slice(0, last + 1);
  fs.mkdirSync(path.join(dir, "meta"));
  fs.writeFileSync(path.join(dir, "meta/_journal.json"), JSON.stringify({ ...journal, entries }));
  for (const e of entries) fs.copyFileSync(path.join(source, `${e.tag}.sql`), path.join(dir, `${e.tag}.sql`));
  return { dir, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}
