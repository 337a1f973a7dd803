// Account holds (money/account-holds, admin/account-holds) on SQLite and on a real PostgreSQL
// (decision 036): guarded UPDATEs on the caller's tx or their own write; the admin's change and
// its audit row in one body. Races: 20 admins at once, one change and one audit row.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeEngines, ENGINES, insertUserOn, type EngineDb } from "../../../tests/support/engines";
import { changeAccountHold } from "../admin/account-holds.server";
import { disputeHoldReason, liftAccountHold, liftDisputeHold, placeAccountHold } from "./account-holds.server";

afterAll(closeEngines);

describe.each(ENGINES)("account holds on $name", (engine) => {
  let db: EngineDb;
  let admin: number;
  let n = 0;
  beforeAll(async () => {
    db = await engine.open();
    admin = await insertUserOn(db, `admin-${engine.name.toLowerCase()}@example.com`, "admin");
  }, 60_000);

  const newUser = () => insertUserOn(db, `hold${++n}-${engine.name.toLowerCase()}@example.com`);
  const flagOf = (userId: number) =>
    db.sql.get<{ flaggedAt: number | null; flaggedReason: string | null }>(`SELECT flagged_at AS "flaggedAt", flagged_reason AS "flaggedReason" FROM users WHERE id = ?`, [userId]);
  const auditOf = (userId: number) =>
    db.sql.all<{ action: string; reason: string; details: string; actorId: number }>(
      `SELECT action, reason, details, actor_id AS "actorId" FROM audit_log WHERE target_user_id = ? ORDER BY id`,
      [userId],
    );

  it("places once, lifts once; a dispute lifts only the hold a dispute set", async () => {
    const u = await newUser();
    expect(await placeAccountHold(db, u, disputeHoldReason("fraudulent"), 1000)).toBe(true);
    expect(await placeAccountHold(db, u, "again", 2000)).toBe(false);
    expect(await flagOf(u)).toEqual({ flaggedAt: 1000, flaggedReason: "Payment disputed (fraudulent)" });
    expect(await liftDisputeHold(db, u)).toBe(true);
    expect(await flagOf(u)).toEqual({ flaggedAt: null, flaggedReason: null });
    expect(await liftAccountHold(db, u)).toBe(false);

    // An admin's hold (or one whose reason merely looks alike in another case) stays.
    for (const reason of ["Held by an admin: chargebacks", "payment disputed (lower case)", "%Payment disputed"]) {
      expect(await placeAccountHold(db.sql, u, reason)).toBe(true);
      expect(await liftDisputeHold(db.sql, u)).toBe(false);
      expect(await liftAccountHold(db.sql, u)).toBe(true);
    }
  });

  it("runs inside the caller's write body: rolled back with it", async () => {
    const u = await newUser();
    await expect(
      db.sql.write(async (tx) => {
        expect(await placeAccountHold(tx, u, disputeHoldReason(null))).toBe(true);
        expect((await tx.get<{ r: string }>("SELECT flagged_reason AS r FROM users WHERE id = ?", [u]))!.r).toBe("Payment disputed (unknown reason)");
        throw new Error("the webhook failed");
      }),
    ).rejects.toThrow(/webhook failed/);
    expect(await flagOf(u)).toEqual({ flaggedAt: null, flaggedReason: null });
  });

  it("an admin's change is audited; one that changes nothing is refused and audits nothing", async () => {
    const u = await newUser();
    expect(await changeAccountHold(db, { adminId: admin, userId: u, action: "lift", reason: "x" })).toMatchObject({ ok: false, reason: "not_on_hold" });
    expect(await changeAccountHold(db, { adminId: admin, userId: u, action: "place", reason: "  chargebacks  " }, 5000)).toEqual({ ok: true, action: "place" });
    expect(await flagOf(u)).toEqual({ flaggedAt: 5000, flaggedReason: "Held by an admin: chargebacks" });
    expect(await changeAccountHold(db, { adminId: admin, userId: u, action: "place", reason: "y" })).toMatchObject({ ok: false, reason: "already_on_hold" });
    expect(await changeAccountHold(db, { adminId: admin, userId: u, action: "lift", reason: "cleared" })).toEqual({ ok: true, action: "lift" });
    expect(await changeAccountHold(db, { adminId: admin, userId: 987654, action: "place", reason: "z" })).toMatchObject({ ok: false, reason: "user_not_found" });
    expect(await auditOf(u)).toEqual([
      { action: "account.hold", reason: "chargebacks", details: JSON.stringify({ previouslyOnHold: false }), actorId: admin },
      { action: "account.lift_hold", reason: "cleared", details: JSON.stringify({ previouslyOnHold: true }), actorId: admin },
    ]);
  });

  it("20 admins placing a hold at once: one change, one audit row, 19 refusals", async () => {
    const u = await newUser();
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => changeAccountHold(db, { adminId: admin, userId: u, action: "place", reason: `race ${i}` })),
    );
    expect(results.filter((r) => r.ok)).toHaveLength(1);
    expect(results.filter((r) => !r.ok && r.reason === "already_on_hold")).toHaveLength(19);
    expect(await auditOf(u)).toHaveLength(1);
    const lifts = await Promise.all(Array.from({ length: 20 }, () => changeAccountHold(db, { adminId: admin, userId: u, action: "lift", reason: "race" })));
    expect(lifts.filter((r) => r.ok)).toHaveLength(1);
    expect(await auditOf(u)).toHaveLength(2);
  });
});
