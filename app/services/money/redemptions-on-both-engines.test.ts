// Redeem codes on SQLite and on a real PostgreSQL (decision 036): creating (a taken text, a
// replayed form, not an admin), disabling once, and redeeming — once per user, never past the
// code's total however many arrive at once, hostile texts refused with nothing changed.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeEngines, ENGINES, insertUserOn, type EngineDb } from "../../../tests/support/engines";
import { memoryLimiterStore } from "../limiter-store.server";
import { readBalance } from "./ledger.server";
import { createRedeemCode, disableRedeemCode, getRedeemCode, listRedeemCodes, type CreateCodeInput } from "./redeem-codes.server";
import { createRedeemLimiter } from "./redemption-limits.server";
import { redeemCode } from "./redemptions.server";

afterAll(async () => {
  await closeEngines();
});

const limiter = () => createRedeemLimiter({ failuresPerUser: 100_000, failuresPerIp: 100_000, windowSeconds: 3600 }, memoryLimiterStore);

describe.each(ENGINES)("redeem codes on $name", (engine) => {
  let db: EngineDb;
  let admin: number;
  let n = 0;
  beforeAll(async () => {
    db = await engine.open();
    admin = await insertUserOn(db, `codes-admin-${engine.name.toLowerCase()}@example.com`, "admin");
  }, 60_000);

  const verifiedUser = async () => {
    const id = await insertUserOn(db, `codes-${++n}-${engine.name.toLowerCase()}@example.com`);
    await db.sql.run("UPDATE users SET email_verified_at = ? WHERE id = ?", [Date.now(), id]);
    return id;
  };
  const input = (fields: Partial<CreateCodeInput> = {}): CreateCodeInput => ({
    adminId: admin,
    code: null,
    credits: 50,
    creditsExpireAfterMs: 86_400_000,
    maxRedemptions: 3,
    redeemableUntil: null,
    token: `form-token-${++n}-abcdefgh`,
    ...fields,
  });
  const newCode = async (fields: Partial<CreateCodeInput> = {}) => {
    const r = await createRedeemCode(db, input(fields));
    if (!r.ok) throw new Error(r.message);
    return r.code;
  };
  const count = async (sql: string, params: unknown[] = []) => (await db.sql.get<{ n: number }>(sql, params))!.n;
  const counts = async () => ({
    codes: await count("SELECT count(*) AS n FROM redeem_codes"),
    tx: await count("SELECT count(*) AS n FROM transactions"),
    grants: await count("SELECT count(*) AS n FROM credit_grants"),
    redemptions: await count("SELECT count(*) AS n FROM redemptions"),
    audit: await count("SELECT count(*) AS n FROM audit_log"),
    used: await count("SELECT coalesce(sum(redemption_count), 0) AS n FROM redeem_codes"),
    credits: await count("SELECT coalesce(sum(credits), 0) AS n FROM users"),
  });
  /** credits == Σ open grants for every user (the ledger's invariant, through portable SQL). */
  const ledgerHolds = async () =>
    db.sql.all(
      `SELECT u.id FROM users u WHERE u.credits <> (SELECT coalesce(sum(g.remaining), 0) FROM credit_grants g WHERE g.user_id = u.id AND g.closed_at IS NULL)`,
    );

  it("grants the code's credits as a redeem grant with its expiry, counts it, audits it", async () => {
    const code = await newCode();
    expect(code).toMatchObject({ credits: 50, maxRedemptions: 3, redemptionCount: 0, status: "active", createdByEmail: expect.stringContaining("codes-admin") });
    const user = await verifiedUser();
    const now = Date.now();
    const r = await redeemCode({ db, limiter: limiter() }, { userId: user, code: code.code, ip: "1.2.3.4", now });
    expect(r).toMatchObject({ ok: true, code: code.code, credits: 50, expiresAt: now + 86_400_000, balance: 50 });
    expect(await db.sql.get("SELECT kind, amount, expires_at AS e FROM credit_grants WHERE user_id = ?", [user])).toEqual({ kind: "redeem", amount: 50, e: now + 86_400_000 });
    expect(await getRedeemCode(db, code.id)).toMatchObject({ redemptionCount: 1, status: "active" });
    expect((await listRedeemCodes(db)).find((c) => c.id === code.id)!.redemptionCount).toBe(1);
    const audit = await db.sql.get<{ details: string }>("SELECT details FROM audit_log WHERE action = 'redeem_code.redeem' AND target_user_id = ?", [user]);
    expect(JSON.parse(audit!.details)).toMatchObject({ codeId: code.id, credits: 50, redemptionCount: 1, maxRedemptions: 3, apiKeyId: null });
    expect(await ledgerHolds()).toEqual([]);
  });

  it("refuses, changing nothing: already redeemed, used up, expired, disabled (as unknown), unverified, on hold, deleted", async () => {
    const deps = { db, limiter: limiter() };
    const code = await newCode({ maxRedemptions: 1 });
    const first = await verifiedUser();
    expect((await redeemCode(deps, { userId: first, code: code.code, ip: "ip" })).ok).toBe(true);
    const timed = await newCode({ redeemableUntil: Date.now() + 1000 });
    const off = await newCode();
    expect((await disableRedeemCode(db, { adminId: admin, codeId: off.id })).ok).toBe(true);
    const unverified = await insertUserOn(db, `codes-unverified-${engine.name.toLowerCase()}@example.com`);
    const held = await verifiedUser();
    await db.sql.run("UPDATE users SET flagged_at = 1 WHERE id = ?", [held]);
    const gone = await verifiedUser();
    await db.sql.run("UPDATE users SET deleted_at = 1 WHERE id = ?", [gone]);
    const fresh = await newCode();
    const before = await counts();
    const refusal = async (userId: number, c: string, now?: number) => {
      const r = await redeemCode(deps, { userId, code: c, ip: "ip", now });
      return r.ok ? "ok" : r.reason;
    };
    expect(await refusal(first, code.code)).toBe("already_redeemed");
    expect(await refusal(await verifiedUser(), code.code)).toBe("code_used_up");
    const after = await counts();
    expect(await refusal(await verifiedUser(), timed.code, Date.now() + 2000)).toBe("code_expired");
    expect(await refusal(await verifiedUser(), off.code)).toBe("unknown_code");
    expect(await refusal(await verifiedUser(), "NOSUCHCODE")).toBe("unknown_code");
    expect(await refusal(unverified, fresh.code)).toBe("email_not_verified");
    expect(await refusal(held, fresh.code)).toBe("account_on_hold");
    expect(await refusal(gone, fresh.code)).toBe("user_not_found");
    expect(await refusal(999_999_999, fresh.code)).toBe("user_not_found");
    // Only the users the refusals were tried for were added; nothing else moved.
    expect(after).toEqual(before);
    expect(await counts()).toEqual(before);
  });

  it.each([
    ["' OR 1=1 --"],
    ["%"],
    ["_"],
    ["SUMMER%"],
    ["summer2026"],
    ["SUMMER-2026"],
    [" SUMMER2026"],
    ["SUMMER2026\u0000"],
    ["\u0000"],
    ["SUMMER2026'; DROP TABLE redeem_codes; --"],
    ["АBCDEF"],
    ["ＳＵＭＭＥＲ２０２６"],
    ["x".repeat(10_000)],
    ["A".repeat(33)],
    [""],
    ["SUMMER2026\u200b"],
  ])("refuses the hostile code text %j as unknown, changing nothing", async (raw) => {
    if (!(await db.sql.get("SELECT id FROM redeem_codes WHERE code = 'SUMMER2026'"))) await newCode({ code: "SUMMER2026", maxRedemptions: 1000 });
    const user = await verifiedUser();
    const before = await counts();
    const r = await redeemCode({ db, limiter: limiter() }, { userId: user, code: raw, ip: "ip" });
    expect(r).toMatchObject({ ok: false, reason: "unknown_code" });
    expect(await counts()).toEqual(before);
  });

  it("20 parallel redemptions of a code with 5 uses left: exactly 5 grants, never past its total", async () => {
    const code = await newCode({ credits: 7, maxRedemptions: 8 });
    const deps = { db, limiter: limiter() };
    for (let i = 0; i < 3; i++) expect((await redeemCode(deps, { userId: await verifiedUser(), code: code.code, ip: "ip" })).ok).toBe(true);
    const users = await Promise.all(Array.from({ length: 20 }, () => verifiedUser()));
    const before = await counts();
    const results = await Promise.all(users.map((userId) => redeemCode(deps, { userId, code: code.code, ip: "ip" })));
    const ok = results.filter((r) => r.ok);
    expect(ok).toHaveLength(5);
    expect(results.filter((r) => !r.ok).map((r) => (r.ok ? "" : r.reason))).toEqual(Array(15).fill("code_used_up"));
    const after = await counts();
    expect(after.redemptions - before.redemptions).toBe(5);
    expect(after.grants - before.grants).toBe(5);
    expect(after.credits - before.credits).toBe(35);
    expect(await getRedeemCode(db, code.id)).toMatchObject({ redemptionCount: 8, status: "used_up" });
    expect(await ledgerHolds()).toEqual([]);
  });

  it("20 parallel redemptions of one code by one user: one grant, 19 already_redeemed", async () => {
    const code = await newCode({ credits: 11, maxRedemptions: 100 });
    const user = await verifiedUser();
    const deps = { db, limiter: limiter() };
    const results = await Promise.all(Array.from({ length: 20 }, () => redeemCode(deps, { userId: user, code: code.code, ip: "ip" })));
    expect(results.filter((r) => r.ok)).toHaveLength(1);
    expect(new Set(results.filter((r) => !r.ok).map((r) => (r.ok ? "" : r.reason)))).toEqual(new Set(["already_redeemed"]));
    expect((await readBalance(db, user)).balance).toBe(11);
    expect(await getRedeemCode(db, code.id)).toMatchObject({ redemptionCount: 1 });
    expect(await count("SELECT count(*) AS n FROM redemptions WHERE user_id = ?", [user])).toBe(1);
  });

  it("a taken text is refused; the same form token is a replay, also 20 at once; a non-admin creates nothing", async () => {
    await newCode({ code: "TAKEN2026" });
    expect(await createRedeemCode(db, input({ code: "TAKEN2026" }))).toMatchObject({ ok: false, reason: "code_taken" });
    const same = input({ token: "same-form-token-0123456789" });
    const before = await counts();
    const all = await Promise.all(Array.from({ length: 20 }, () => createRedeemCode(db, same)));
    expect(all.every((r) => r.ok)).toBe(true);
    expect(all.filter((r) => r.ok && !r.replayed)).toHaveLength(1);
    expect(new Set(all.map((r) => (r.ok ? r.code.id : 0))).size).toBe(1);
    expect((await counts()).codes - before.codes).toBe(1);
    // A token with LIKE's wildcards is matched literally, not as a pattern.
    const wild = await createRedeemCode(db, input({ token: "same_form%token-0123456789" }));
    expect(wild).toMatchObject({ ok: true, replayed: false });
    const user = await verifiedUser();
    const mid = await counts();
    expect(await createRedeemCode(db, input({ adminId: user }))).toMatchObject({ ok: false, reason: "not_admin" });
    expect(await createRedeemCode(db, input({ adminId: 999_999_999 }))).toMatchObject({ ok: false, reason: "not_admin" });
    expect(await counts()).toEqual(mid);
  });

  it("20 parallel creations of one text with different forms: one code, 19 code_taken", async () => {
    const results = await Promise.all(Array.from({ length: 20 }, () => createRedeemCode(db, input({ code: "RACE2026" }))));
    expect(results.filter((r) => r.ok)).toHaveLength(1);
    expect(results.filter((r) => !r.ok).map((r) => (r.ok ? "" : r.reason))).toEqual(Array(19).fill("code_taken"));
    expect(await count("SELECT count(*) AS n FROM redeem_codes WHERE code = 'RACE2026'")).toBe(1);
  });

  it("20 parallel disables: one disables and audits, the rest are told it already is; unknown and non-admin change nothing", async () => {
    const code = await newCode();
    const results = await Promise.all(Array.from({ length: 20 }, () => disableRedeemCode(db, { adminId: admin, codeId: code.id })));
    expect(results.filter((r) => r.ok)).toHaveLength(1);
    expect(results.filter((r) => !r.ok).map((r) => (r.ok ? "" : r.reason))).toEqual(Array(19).fill("already_disabled"));
    expect(await count("SELECT count(*) AS n FROM audit_log WHERE action = 'redeem_code.disable' AND details LIKE ?", [`%"codeId":${code.id},%`])).toBe(1);
    const other = await newCode();
    const before = await counts();
    expect(await disableRedeemCode(db, { adminId: admin, codeId: 999_999_999 })).toMatchObject({ ok: false, reason: "not_found" });
    expect(await disableRedeemCode(db, { adminId: await verifiedUser(), codeId: other.id })).toMatchObject({ ok: false, reason: "not_admin" });
    expect((await getRedeemCode(db, other.id))!.status).toBe("active");
    expect(await counts()).toEqual(before);
  });
});
