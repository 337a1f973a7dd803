// The admin console's services on SQLite and on a real PostgreSQL (decision 036): manual
// adjustments with their audit row in one write body (20 racing submits of one form: one change,
// one audit row; racing removals never overspend), the audit log's pages, the overview from the
// daily totals the triggers keep, and the user list: keyset pages both ways, an email-prefix
// search whose LIKE wildcards are escaped, over a table of hostile inputs.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeEngines, ENGINES, insertUserOn, type EngineDb } from "../../../tests/support/engines";
import { AUDIT_ACTIONS } from "~/utils/admin-schemas";
import { DAY_MS } from "~/utils/time";
import { grant, hold, readBalance } from "../money/ledger.server";
import { adjustCredits } from "./adjustments.server";
import { listAudit } from "./audit-log.server";
import { getOverview } from "./overview.server";
import { decodeCursor, getUserSummary, listUsers, prefixPattern } from "./user-list.server";

afterAll(async () => {
  await closeEngines();
});

const token = (n: number | string) => `tok-${String(n).padStart(16, "0")}`;

describe.each(ENGINES)("admin on $name", (engine) => {
  let db: EngineDb;
  let adminId: number;
  let n = 0;
  const tag = engine.name.toLowerCase();
  beforeAll(async () => {
    db = await engine.open();
    adminId = await insertUserOn(db, `boss-${tag}@example.com`, "admin");
  }, 60_000);
  const newUser = (credits = 0) => insertUserOn(db, `adj-${++n}-${tag}@example.com`, "user", credits);
  const auditOf = (userId: number) =>
    db.sql.all<{ reason: string | null; details: string }>("SELECT reason, details FROM audit_log WHERE target_user_id = ? ORDER BY id", [userId]);
  const credits = async (userId: number) => (await db.sql.get<{ c: number }>("SELECT credits AS c FROM users WHERE id = ?", [userId]))!.c;

  describe("adjustments", () => {
    it("adds credits with its audit row; the same token again is a replay with no second row", async () => {
      const userId = await newUser();
      const first = await adjustCredits(db, { adminId, userId, amount: 250, type: "bonus", reason: "Goodwill", token: token(1) });
      expect(first).toMatchObject({ ok: true, replayed: false, transaction: { adminId, reason: "Goodwill", type: "bonus", amount: 250 } });
      const again = await adjustCredits(db, { adminId, userId, amount: 250, type: "bonus", reason: "Goodwill", token: token(1) });
      expect(again).toMatchObject({ ok: true, replayed: true });
      if (!first.ok || !again.ok) throw new Error("unreachable");
      expect(again.transaction.id).toBe(first.transaction.id);
      expect((await readBalance(db, userId)).balance).toBe(250);
      const audit = await auditOf(userId);
      expect(audit).toHaveLength(1);
      expect(audit[0]!.reason).toBe("Goodwill");
      expect(JSON.parse(audit[0]!.details)).toEqual({
        transactionId: first.transaction.id,
        type: "bonus",
        amount: 250,
        balanceAfter: 250,
        expiresAfterMs: null,
        key: `admin-adjust:${token(1)}`,
      });
    });

    it("refuses a removal below zero, a reused token and an unknown user, changing nothing", async () => {
      const userId = await newUser(100);
      expect(await adjustCredits(db, { adminId, userId, amount: -101, type: "adjustment", reason: "Oops", token: token(2) })).toEqual({
        ok: false,
        reason: "insufficient_credits",
        balance: 100,
        needed: 101,
      });
      expect(await adjustCredits(db, { adminId, userId, amount: 5, type: "bonus", reason: "x y z", token: token(1) })).toEqual({ ok: false, reason: "token_reused" });
      expect(await adjustCredits(db, { adminId, userId: 987_654, amount: 5, type: "bonus", reason: "x y z", token: token(3) })).toEqual({ ok: false, reason: "user_not_found" });
      expect(await auditOf(userId)).toEqual([]);
      expect(await credits(userId)).toBe(100);
      expect(await db.sql.get("SELECT id FROM transactions WHERE idempotency_key IN (?, ?)", [`admin-adjust:${token(2)}`, `admin-adjust:${token(3)}`])).toBeUndefined();
    });

    it("20 racing submits of one form: one change, one audit row, 19 replays", async () => {
      const userId = await newUser();
      const results = await Promise.all(
        Array.from({ length: 20 }, () => adjustCredits(db, { adminId, userId, amount: 40, type: "bonus", reason: "Double click", token: token("race") })),
      );
      expect(results.every((r) => r.ok)).toBe(true);
      expect(results.filter((r) => r.ok && !r.replayed)).toHaveLength(1);
      expect(await credits(userId)).toBe(40);
      expect(await auditOf(userId)).toHaveLength(1);
    });

    it("20 racing removals of 10 from 100 credits: exactly 10 succeed, the balance ends at 0, one audit row each", async () => {
      const userId = await newUser(100);
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => adjustCredits(db, { adminId, userId, amount: -10, type: "adjustment", reason: "Chargeback", token: token(`rm-${i}`) })),
      );
      expect(results.filter((r) => r.ok)).toHaveLength(10);
      expect(results.filter((r) => !r.ok && r.reason === "insufficient_credits")).toHaveLength(10);
      expect(await credits(userId)).toBe(0);
      expect((await readBalance(db, userId)).balance).toBe(0);
      expect(await auditOf(userId)).toHaveLength(10);
    });
  });

  describe("audit log", () => {
    it("pages newest first, with readable lines and both addresses", async () => {
      const all = (await listAudit(db, { limit: 200 })).entries;
      expect(all.length).toBeGreaterThanOrEqual(12);
      expect(all.map((e) => e.id)).toEqual([...all.map((e) => e.id)].sort((a, b) => b - a));
      const first = await listAudit(db, { limit: 5 });
      const second = await listAudit(db, { limit: 5, older: first.older! });
      expect([...first.entries, ...second.entries].map((e) => e.id)).toEqual(all.slice(0, 10).map((e) => e.id));
      const entry = all.find((e) => e.action === AUDIT_ACTIONS.adjust && e.reason === "Goodwill")!;
      expect(entry).toMatchObject({ actorId: adminId, actorEmail: `boss-${tag}@example.com`, targetEmail: expect.stringMatching(/^adj-\d+-/) });
      expect(entry.summary).toMatch(/^\+250 credits \(bonus\), balance after 250, transaction #\d+$/);
      const mine = await listAudit(db, { targetUserId: entry.targetUserId! });
      expect(mine.entries.map((e) => e.id)).toEqual([entry.id]);
      expect(mine.older).toBeNull();
      expect(typeof entry.createdAt).toBe("number");
    });
  });

  describe("overview", () => {
    it("sums the days from the daily totals and the figures of now", async () => {
      // Its own clock far ahead, so the window holds only this test's rows (their created_at).
      const now = (Math.floor(Date.now() / DAY_MS) + 400.5) * DAY_MS;
      const userId = await newUser();
      await grant(db.sql, { userId, amount: 300, type: "purchase", key: `ov-buy-${tag}`, description: "Pack", now: now - DAY_MS, meta: { amountTotal: 900, currency: "USD" } });
      await grant(db.sql, { userId, amount: 50, type: "bonus", key: `ov-bonus-${tag}`, description: "Gift", now });
      const h = await hold(db.sql, { userId, cost: 30, key: `ov-hold-${tag}`, description: "Video", ttlSeconds: 600, now });
      expect(h.ok).toBe(true);
      const overview = await getOverview(db, { now, days: 3 });
      expect(overview.days.map((d) => d.day)).toEqual([-2, -1, 0].map((d) => new Date((Math.floor(now / DAY_MS) + d) * DAY_MS).toISOString().slice(0, 10)));
      expect(overview.days[1]).toMatchObject({ sold: 300, given: 0, revenue: { usd: 900 } });
      expect(overview.days[2]).toMatchObject({ sold: 0, given: 50, spent: 0 });
      expect(overview.totals).toMatchObject({ sold: 300, given: 50, spent: 0, clawedBack: 0, adjusted: 0, revenue: { usd: 900 } });
      const pending = (await db.sql.get<{ c: number; h: number }>("SELECT coalesce(sum(-amount), 0) AS c, count(*) AS h FROM transactions WHERE status = 'pending'"))!;
      expect(overview.onHold).toEqual({ credits: pending.c, holds: pending.h });
      const users = (await db.sql.get<{ n: number; s: number }>("SELECT count(*) AS n, coalesce(sum(credits), 0) AS s FROM users"))!;
      expect({ users: overview.users, outstanding: overview.outstanding }).toEqual({ users: users.n, outstanding: users.s });
      expect(typeof overview.outstanding).toBe("number");
    });
  });

  describe("user list", () => {
    const listTag = `ul${tag.slice(0, 2)}`;
    let ids: number[] = [];
    beforeAll(async () => {
      ids = [];
      for (let i = 0; i < 30; i++) ids.push(await insertUserOn(db, `${listTag}-${String(i).padStart(2, "0")}@example.com`, "user", (i * 7) % 11));
    });

    it("pages by email, credits and sign-up date both ways without gaps or repeats", async () => {
      for (const sort of ["email", "credits", "created"] as const) {
        for (const dir of ["asc", "desc"] as const) {
          const seen: number[] = [];
          let page = await listUsers(db, { q: listTag, sort, dir, limit: 7 });
          expect(page.prev).toBeNull();
          const pages = [page];
          for (;;) {
            seen.push(...page.users.map((u) => u.id));
            if (!page.next) break;
            page = await listUsers(db, { q: listTag, sort, dir, after: page.next, limit: 7 });
            pages.push(page);
          }
          expect(new Set(seen).size).toBe(30);
          expect([...seen].sort((a, b) => a - b)).toEqual([...ids].sort((a, b) => a - b));
          const back = await listUsers(db, { q: listTag, sort, dir, before: pages[2]!.prev!, limit: 7 });
          expect(back.users.map((u) => u.id)).toEqual(pages[1]!.users.map((u) => u.id));
          if (sort === "credits") {
            const values = seen.map((id) => ((ids.indexOf(id) * 7) % 11) as number);
            expect(values).toEqual([...values].sort((a, b) => (dir === "asc" ? a - b : b - a)));
          }
        }
      }
    });

    it("searches by prefix, case-insensitively, with the page's figures", async () => {
      const page = await listUsers(db, { q: `  ${listTag.toUpperCase()}-1`, sort: "email" });
      expect(page.q).toBe(`${listTag}-1`);
      expect(page.users.map((u) => u.email)).toEqual(Array.from({ length: 10 }, (_, i) => `${listTag}-1${i}@example.com`));
      expect(page.users[0]).toEqual({
        id: ids[10],
        email: `${listTag}-10@example.com`,
        role: "user",
        credits: (10 * 7) % 11,
        createdAt: expect.any(Number),
        flaggedAt: null,
        emailVerifiedAt: null,
        onHold: 0,
        purchased: 0,
        lastActivity: expect.any(Number),
      });
      const summary = await getUserSummary(db, ids[10]!);
      expect(summary).toMatchObject({ id: ids[10], flaggedReason: null, onHold: 0, purchased: 0 });
      expect(await getUserSummary(db, 987_654)).toBeNull();
    });

    // Each input is a literal prefix: `%` and `_` match themselves, `\` is not an escape for the
    // user, quotes are data, and nothing long or unusual breaks the statement on either engine.
    const long = "a".repeat(300);
    const hostile: Array<[string, string[]]> = [
      ["%", ["%pct@example.com"]],
      ["_", ["_under@example.com"]],
      ["\\", ["\\slash@example.com"]],
      ["%p", ["%pct@example.com"]],
      ["_u", ["_under@example.com"]],
      ["a_b", ["a_b@example.com"]],
      ["a%b", []],
      ["\\s", ["\\slash@example.com"]],
      ["\\%", []],
      ["'", ["'quote@example.com"]],
      ["'quote", ["'quote@example.com"]],
      ['"', ['"dq@example.com']],
      ["o'; drop table users; --", []],
      [long, [`${long}@example.com`]],
      [long + "b", []],
      ["zoë", ["zoë@例え.jp"]],
      ["ZOË", ["zoë@例え.jp"]],
      ["例", []],
      ["🙂", ["🙂smile@example.com"]],
      ["axb", ["axb@example.com"]],
    ];
    beforeAll(async () => {
      for (const email of ["%pct@example.com", "_under@example.com", "\\slash@example.com", "a_b@example.com", "axb@example.com", "'quote@example.com", '"dq@example.com', `${long}@example.com`, "zoë@例え.jp", "🙂smile@example.com"]) {
        await insertUserOn(db, email);
      }
    });
    it.each(hostile)("the search %j finds exactly its literal prefix", async (q, expected) => {
      const page = await listUsers(db, { q, sort: "email", limit: 200 });
      expect(page.users.map((u) => u.email).sort()).toEqual([...expected].sort());
    });

    it("escapes LIKE's wildcards and the escape itself", () => {
      expect(prefixPattern("A%b_c\\d")).toBe("a\\%b\\_c\\\\d%");
      expect(decodeCursor("garbage", "email")).toBeNull();
    });
  });
});
