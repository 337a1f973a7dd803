// ledger:verify's snapshot copy (ledger-verify-snapshot.server.ts) on SQLite and on a real
// PostgreSQL: pages of a few rows copy every row of every table once (the keyset steps over the
// two-column key of grant_draws too), a clean ledger reports nothing, and a balance changed behind
// the ledger's back is named, as the verifier on the SQLite file itself names it.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeEngines, ENGINES, insertUserOn, type EngineDb } from "../../../tests/support/engines";
import { grant, hold, postHold } from "./ledger.server";
import { verifyLedgerSnapshot } from "./ledger-verify-snapshot.server";

afterAll(closeEngines);

const T = Date.UTC(2026, 11, 4, 12);

describe.each(ENGINES)("ledger:verify's snapshot on $name", (engine) => {
  let db: EngineDb;
  const users: number[] = [];
  beforeAll(async () => {
    db = await engine.open();
    for (let i = 0; i < 5; i++) {
      const u = await insertUserOn(db, `snap${i}-${engine.name.toLowerCase()}@example.com`);
      users.push(u);
      // Two grants, so a spend draws from both: several grant_draws rows per transaction.
      await grant(db.sql, { userId: u, amount: 3, type: "bonus", key: `snap-a-${u}`, description: "a", now: T });
      await grant(db.sql, { userId: u, amount: 20, type: "purchase", key: `snap-b-${u}`, description: "b", now: T + 1 });
      for (let j = 0; j < 3; j++) {
        const held = await hold(db.sql, { userId: u, cost: 2, key: `snap-h-${u}-${j}`, description: "image", ttlSeconds: 600, now: T + 2 + j });
        if (!held.ok) throw new Error("hold refused");
        await postHold(db.sql, held.transaction.id, T + 10 + j);
      }
    }
  }, 60_000);

  const counts = async () => {
    const n = async (table: string) => (await db.sql.get<{ n: number }>(`SELECT count(*) AS n FROM ${table}`))!.n;
    return { users: await n("users"), transactions: await n("transactions"), draws: await n("grant_draws") };
  };

  it.each([[1], [3], [7], [5000]])("pages of %i rows: every row copied once, nothing to report", async (pageRows) => {
    const expected = await counts();
    expect(expected.draws).toBeGreaterThan(expected.users);
    const report = await verifyLedgerSnapshot(db.sql, { sweepGraceMs: 600_000, now: T + 100, pageRows });
    expect(report).toMatchObject({ users: expected.users, transactions: expected.transactions, pendingHolds: 0 });
    expect(report.violations).toEqual([]);
  });

  it("a balance changed behind the ledger's back is named, with its user", async () => {
    const u = users[2]!;
    await db.sql.run("UPDATE users SET credits = credits + 1000 WHERE id = ?", [u]);
    try {
      const report = await verifyLedgerSnapshot(db.sql, { sweepGraceMs: 600_000, now: T + 100, pageRows: 4 });
      expect(report.violations.map((v) => [v.kind, v.userId])).toEqual(expect.arrayContaining([["balance_mismatch", u], ["grant_mismatch", u]]));
    } finally {
      await db.sql.run("UPDATE users SET credits = credits - 1000 WHERE id = ?", [u]);
    }
  });
});
