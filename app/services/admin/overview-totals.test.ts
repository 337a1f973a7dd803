/**
 * The overview reads daily_totals and user_totals, kept by triggers (decision 037). Whatever the
 * ledger does, they must say exactly what a scan of the ledger rows says: here a random mix of
 * writes through the ledger's public API (grants of every type, holds posted, voided and swept,
 * adjustments, clawbacks and reversals, expiries) over many UTC days, compared after every batch
 * with the direct aggregate, and the overview and each customer's chart with a plain fold of the rows.
 */
import { afterEach, describe, expect, it } from "vitest";
import { DAY_MS } from "~/utils/time";
import { createTestDb, insertUser } from "../../../tests/support/db";
import { directFigures, directUserDayFigures, directUserFigures, keptFigures, keptUserDayFigures, keptUserFigures, runLedgerWorkload } from "../../../tests/support/daily-totals";
import { getCreditsChart } from "../billing-dashboard.server";
import { getOverview, type Overview } from "./overview.server";
import { getUserSummary, listUsers } from "./user-list.server";

const START = Date.UTC(2027, 0, 10, 22, 0, 0); // late in a UTC day: the first tick crosses midnight

let db: ReturnType<typeof createTestDb> | undefined;
afterEach(async () => {
  db?.remove();
  db = undefined;
});

type Row = { day: number; type: string; status: string; amount: number; currency: string | null; revenue: number };

/** The overview as its definition says, from every ledger row, written without the service's code. */
function overviewFromRows(rows: Row[], firstDay: number, lastDay: number, figuresOfNow: Pick<Overview, "onHold" | "users" | "outstanding">): Overview {
  const blank = () => ({ sold: 0, spent: 0, given: 0, clawedBack: 0, adjusted: 0, revenue: {} as Record<string, number> });
  const days: Overview["days"] = [];
  for (let d = firstDay; d <= lastDay; d++) days.push({ day: new Date(d * DAY_MS).toISOString().slice(0, 10), ...blank() });
  const totals = blank();
  for (const r of rows) {
    if (r.day < firstDay || r.day > lastDay) continue;
    for (const t of [days[r.day - firstDay]!, totals]) {
      if (["purchase", "topup", "plan"].includes(r.type)) t.sold += r.amount;
      if (r.type === "purchase" && r.currency && r.revenue) t.revenue[r.currency] = (t.revenue[r.currency] ?? 0) + r.revenue;
      if (r.type === "usage" && r.status === "posted") t.spent -= r.amount;
      if (r.type === "bonus" || r.type === "redeem") t.given += r.amount;
      if (r.type === "refund") t.clawedBack -= r.amount;
      if (r.type === "adjustment") t.adjusted += r.amount;
    }
  }
  return { days, totals, ...figuresOfNow };
}

function ledgerRows(sqlite: ReturnType<typeof createTestDb>["sqlite"]): Row[] {
  return sqlite
    .prepare<[], Row>(
      `SELECT created_at / ${DAY_MS} AS day, type, status, amount,
         CASE WHEN type = 'purchase' AND json_valid(meta) THEN lower(json_extract(meta, '$.currency')) END AS currency,
         CASE WHEN type = 'purchase' AND json_valid(meta) THEN coalesce(json_extract(meta, '$.amountTotal'), 0) ELSE 0 END AS revenue
       FROM transactions`,
    )
    .all();
}

describe("the overview from kept totals", () => {
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    it(`equals the direct aggregate over transactions after a random mix of ledger writes (seed ${seed})`, async () => {
      db = createTestDb();
      const adminId = insertUser(db, "boss@example.com", "admin");
      const userIds = Array.from({ length: 6 }, (_, i) => insertUser(db!, `user${seed}-${i}@example.com`));
      let now = START;
      const seen = new Set<string>();
      for (let batch = 0; batch < 8; batch++) {
        const run = await runLedgerWorkload(db, { seed: seed * 100 + batch, steps: 60, userIds, adminId, start: now });
        now = run.now;
        Object.keys(run.writes).forEach((op) => seen.add(op.split(":")[0]!));
        expect(keptFigures(db.sqlite)).toEqual(directFigures(db.sqlite));
        expect(keptUserDayFigures(db.sqlite)).toEqual(directUserDayFigures(db.sqlite));
        expect(keptUserFigures(db.sqlite)).toEqual(directUserFigures(db.sqlite));
      }
      // The mix did what it says: every kind of write happened, over several days.
      for (const op of ["grant", "hold", "post", "void", "adjust", "clawback", "expire", "sweep", "tick"]) expect(seen).toContain(op);
      const direct = directFigures(db.sqlite);
      expect(new Set(direct.map((f) => f.day)).size).toBeGreaterThan(3);
      expect(direct.some((f) => f.type === "usage" && f.status === "voided")).toBe(true);
      expect(direct.some((f) => f.currency !== "")).toBe(true);

      const days = Math.floor(now / DAY_MS) - Math.floor(START / DAY_MS) + 1;
      for (const window of [1, 3, days, days + 5]) {
        const overview = await getOverview(db, { now, days: window });
        const pending = db.sqlite.prepare<[], { credits: number; holds: number }>("SELECT coalesce(sum(-amount), 0) AS credits, count(*) AS holds FROM transactions WHERE status = 'pending'").get()!;
        const users = directUserFigures(db.sqlite);
        const lastDay = Math.floor(now / DAY_MS);
        expect(overview).toEqual(overviewFromRows(ledgerRows(db.sqlite), lastDay - window + 1, lastDay, { onHold: pending, users: users.users, outstanding: users.credits }));
        // The customer's chart reads user_daily_totals: the same as bought and spent from their rows.
        for (const userId of userIds) {
          const mine = db.sqlite.prepare<[number], Row & { userId: number }>(`SELECT created_at / ${DAY_MS} AS day, type, status, amount FROM transactions WHERE user_id = ?`).all(userId);
          const chart = await getCreditsChart(db, userId, { now, days: window });
          const expected = chart.map((_, i) => {
            const day = lastDay - window + 1 + i;
            const ofDay = mine.filter((r) => r.day === day);
            return {
              bought: ofDay.filter((r) => ["purchase", "topup"].includes(r.type)).reduce((sum, r) => sum + r.amount, 0),
              spent: ofDay.filter((r) => r.type === "usage" && r.status === "posted").reduce((sum, r) => sum - r.amount, 0),
            };
          });
          expect(chart.map(({ bought, spent }) => ({ bought, spent }))).toEqual(expected);
        }
      }
      // The admin console's "purchased" per user reads user_daily_totals too.
      const purchased = (userId: number) => db!.sqlite.prepare<[number], { n: number }>("SELECT coalesce(sum(amount), 0) AS n FROM transactions WHERE user_id = ? AND type = 'purchase'").get(userId)!.n;
      for (const userId of userIds) expect((await getUserSummary(db, userId))!.purchased).toBe(purchased(userId));
      for (const row of (await listUsers(db, { sort: "credits", dir: "desc" })).users) {
        expect({ id: row.id, purchased: row.purchased }).toEqual({ id: row.id, purchased: purchased(row.id) });
      }
    });
  }

  it("follows writes made outside the ledger too (a script, a restore), and a row's removal", async () => {
    db = createTestDb();
    const userId = insertUser(db, "script@example.com");
    const at = Date.UTC(2027, 2, 1, 12);
    const insert = db.sqlite.prepare(
      `INSERT INTO transactions (user_id, amount, type, status, idempotency_key, description, balance_after, meta, created_at)
       VALUES (?, ?, ?, ?, ?, 'by hand', 0, ?, ?)`,
    );
    const hostile: Array<[amount: number, type: string, status: string, meta: string | null]> = [
      [500, "purchase", "posted", '{"amountTotal":1500,"currency":"USD"}'],
      [500, "purchase", "posted", '{"amountTotal":700}'], // no currency: sold, no money shown
      [500, "purchase", "posted", "not json at all"], // malformed meta: counted, never a failed write
      [500, "purchase", "posted", null],
      [500, "purchase", "posted", '["an", "array"]'],
      [-20, "usage", "pending", '{"currency":"usd","amountTotal":99}'], // only purchases carry money
      [-7, "usage", "pending", null],
    ];
    hostile.forEach(([amount, type, status, meta], i) => insert.run(userId, amount, type, status, `by-hand-${i}`, meta, at + i));
    db.sqlite.prepare("UPDATE transactions SET status = 'posted', settled_at = ? WHERE idempotency_key = 'by-hand-5'").run(at);
    db.sqlite.prepare("UPDATE transactions SET status = 'voided', meta = '{}' WHERE idempotency_key = 'by-hand-6'").run();
    db.sqlite.prepare("UPDATE transactions SET created_at = created_at - ? WHERE idempotency_key = 'by-hand-0'").run(3 * DAY_MS);
    db.sqlite.prepare("UPDATE transactions SET meta = '{\"amountTotal\":10,\"currency\":\"eur\"}' WHERE idempotency_key = 'by-hand-1'").run();
    db.sqlite.prepare("UPDATE transactions SET description = 'renamed', expires_at = 1 WHERE idempotency_key = 'by-hand-4'").run();
    expect(keptFigures(db.sqlite)).toEqual(directFigures(db.sqlite));
    expect(keptUserDayFigures(db.sqlite)).toEqual(directUserDayFigures(db.sqlite));
    const overview = await getOverview(db, { now: at, days: 10 });
    expect(overview.totals.revenue).toEqual({ usd: 1500, eur: 10 });
    expect(overview.totals.sold).toBe(2500);
    expect(overview.totals.spent).toBe(20);
    db.sqlite.prepare("DELETE FROM transactions WHERE idempotency_key IN ('by-hand-0', 'by-hand-5')").run();
    expect(keptFigures(db.sqlite)).toEqual(directFigures(db.sqlite));
    expect((await getOverview(db, { now: at, days: 10 })).totals).toMatchObject({ sold: 2000, spent: 0, revenue: { eur: 10 } });
    expect(keptUserDayFigures(db.sqlite)).toEqual(directUserDayFigures(db.sqlite));
    db.sqlite.prepare("DELETE FROM transactions").run();
    expect(keptFigures(db.sqlite)).toEqual([]);
    expect(keptUserDayFigures(db.sqlite)).toEqual([]);
  });

  it("counts users and their balances as the users table does, through sign-ups, balance changes and deletions", async () => {
    db = createTestDb();
    expect(keptUserFigures(db.sqlite)).toEqual({ users: 0, credits: 0 });
    const ids = Array.from({ length: 5 }, (_, i) => insertUser(db!, `u${i}@example.com`));
    db.sqlite.prepare("UPDATE users SET credits = 40 WHERE id = ?").run(ids[0]);
    db.sqlite.prepare("UPDATE users SET credits = -15 WHERE id = ?").run(ids[1]);
    db.sqlite.prepare("UPDATE users SET email = 'renamed@example.com' WHERE id = ?").run(ids[2]);
    db.sqlite.prepare("INSERT INTO users (email, password_hash, credits) VALUES ('rich@example.com', 'x', 1000)").run();
    db.sqlite.prepare("DELETE FROM users WHERE id = ?").run(ids[3]);
    expect(keptUserFigures(db.sqlite)).toEqual({ users: 5, credits: 1025 });
    expect(keptUserFigures(db.sqlite)).toEqual(directUserFigures(db.sqlite));
    const overview = await getOverview(db, { now: Date.UTC(2027, 0, 1) });
    expect({ users: overview.users, outstanding: overview.outstanding }).toEqual({ users: 5, outstanding: 1025 });
  });
});
