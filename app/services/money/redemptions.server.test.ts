import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createTestDb, insertUser } from "../../../tests/support/db";
import { createRedeemCodeSchema, formatCode, normalizeCode, RedeemCodeSchema } from "~/utils/redeem-code-schemas";
import { verifyLedger } from "./ledger-verify.server";
import { createRedeemCode, disableRedeemCode, generateCode, listRedeemCodes } from "./redeem-codes.server";
import { createRedeemLimiter } from "./redemption-limits.server";
import { redeemCode } from "./redemptions.server";
import { memoryLimiterStore } from "../limiter-store.server";

// The service under the HTTP tests (tests/integration/redeem-codes.test.ts): the rules, each
// refusal, and that a refusal changes nothing, on a real migrated SQLite file.

let db: ReturnType<typeof createTestDb>;
let admin: number;
let n = 0;
const limiter = () => createRedeemLimiter({ failuresPerUser: 1000, failuresPerIp: 1000, windowSeconds: 3600 }, memoryLimiterStore);

function verifiedUser(): number {
  const id = insertUser(db, `u${++n}@example.com`);
  db.sqlite.prepare("update users set email_verified_at = ? where id = ?").run(Date.now(), id);
  return id;
}

async function newCode(fields: Partial<Parameters<typeof createRedeemCode>[1]> = {}) {
  const r = await createRedeemCode(db, { adminId: admin, code: null, credits: 50, creditsExpireAfterMs: 86_400_000, maxRedemptions: 3, redeemableUntil: null, token: `t${++n}`, ...fields });
  if (!r.ok) throw new Error(r.message);
  return r.code;
}

const counts = () => ({
  tx: (db.sqlite.prepare("select count(*) n from transactions").get() as { n: number }).n,
  redemptions: (db.sqlite.prepare("select count(*) n from redemptions").get() as { n: number }).n,
  audit: (db.sqlite.prepare("select count(*) n from audit_log where action = 'redeem_code.redeem'").get() as { n: number }).n,
});

beforeEach(() => {
  db = createTestDb();
  admin = insertUser(db, "admin@example.com", "admin");
});
afterEach(() => db.remove());

describe("normalising a code", () => {
  it("folds case, spaces, dashes and full-width forms the same way for create and redeem", () => {
    expect(normalizeCode(" abcd-efgh – jkmn ")).toBe("ABCDEFGHJKMN");
    expect(normalizeCode("ＡＢＣＤ－ＥＦＧＨ")).toBe("ABCDEFGH");
    expect(formatCode("ABCDEFGHJKMN")).toBe("ABCD-EFGH-JKMN");
    expect(formatCode("SUMMER2026")).toBe("SUMMER2026");
  });
  it.each([["АBCDEF"], ["ABC%EF"], ["ABC_EF"], ["ABC\u0000EF"], ["' OR 1=1 --"], ["x".repeat(10_000)], ["ABCDEFGHJKMN\u200b"]])("refuses %j", (raw) => {
    expect(normalizeCode(raw)).toBeNull();
    expect(RedeemCodeSchema.safeParse({ code: raw }).success).toBe(false);
  });
  it("generates 12 symbols of the unambiguous alphabet", () => {
    for (let i = 0; i < 200; i++) expect(generateCode()).toMatch(/^[ABCDEFGHJKMNPQRSTVWXYZ2-9]{12}$/);
  });
});

describe("the admin form's schema", () => {
  const schema = createRedeemCodeSchema(() => Date.UTC(2026, 0, 1));
  const base = { intent: "create", token: "t".repeat(20), credits: "10", maxRedemptions: "5" };
  it.each([
    [{ credits: "0" }, "credits"],
    [{ credits: "-1" }, "credits"],
    [{ credits: "1e12" }, "credits"],
    [{ credits: "1.5" }, "credits"],
    [{ credits: "abc" }, "credits"],
    [{ credits: "1000000000000" }, "credits"],
    [{ maxRedemptions: "0" }, "maxRedemptions"],
    [{ maxRedemptions: "1000001" }, "maxRedemptions"],
    [{ redeemableUntil: "2025-12-31" }, "redeemableUntil"],
    [{ redeemableUntil: "2026-02-30" }, "redeemableUntil"],
    [{ redeemableUntil: "tomorrow" }, "redeemableUntil"],
    [{ creditsExpireAfter: "-5d" }, "creditsExpireAfter"],
    [{ creditsExpireAfter: "9999999d" }, "creditsExpireAfter"],
    [{ creditsExpireAfter: "30s" }, "creditsExpireAfter"],
    [{ code: "ab" }, "code"],
    [{ credits: "5000", maxRedemptions: "3" }, "confirmLarge"],
  ])("refuses %j", (fields, path) => {
    const r = schema.safeParse({ ...base, ...fields });
    expect(r.success).toBe(false);
    expect(r.error!.issues.map((i) => i.path.join("."))).toContain(path);
  });
  it("reads 0 and never as credits that never expire (the one duration parser)", () => {
    for (const v of ["0", "never", ""]) expect(schema.parse({ ...base, creditsExpireAfter: v }).creditsExpireAfter).toBeNull();
    expect(schema.parse({ ...base, redeemableUntil: "2026-01-01" }).redeemableUntil).toBe(Date.UTC(2026, 0, 1, 23, 59, 59, 999));
  });
});

describe("redeeming", () => {
  it("grants the code's credits as a redeem grant with its expiry, counts it, audits it", async () => {
    const code = await newCode();
    const user = verifiedUser();
    const now = Date.now();
    const r = await redeemCode({ db, limiter: limiter() }, { userId: user, code: code.code, ip: "1.2.3.4", now });
    expect(r).toMatchObject({ ok: true, credits: 50, expiresAt: now + 86_400_000, balance: 50 });
    const grant = db.sqlite.prepare("select kind, amount, expires_at e from credit_grants where user_id = ?").get(user);
    expect(grant).toEqual({ kind: "redeem", amount: 50, e: now + 86_400_000 });
    expect((await listRedeemCodes(db))[0]!.redemptionCount).toBe(1);
    expect(counts()).toMatchObject({ redemptions: 1, audit: 1 });
    expect(verifyLedger(db, { sweepGraceMs: 60_000 }).violations).toEqual([]);
  });

  it("refuses, changing nothing: already redeemed, used up, expired, disabled (as unknown), unknown, unverified, on hold", async () => {
    const deps = { db, limiter: limiter() };
    const code = await newCode({ maxRedemptions: 1 });
    const first = verifiedUser();
    expect((await redeemCode(deps, { userId: first, code: code.code, ip: "ip" })).ok).toBe(true);
    const before = counts();
    const refusal = async (userId: number, c: string, now?: number) => {
      const r = await redeemCode(deps, { userId, code: c, ip: "ip", now });
      return r.ok ? "ok" : r.reason;
    };
    expect(await refusal(first, code.code)).toBe("already_redeemed");
    expect(await refusal(verifiedUser(), code.code)).toBe("code_used_up");
    const timed = await newCode({ redeemableUntil: Date.now() + 1000 });
    expect(await refusal(verifiedUser(), timed.code, Date.now() + 2000)).toBe("code_expired");
    const off = await newCode();
    expect((await disableRedeemCode(db, { adminId: admin, codeId: off.id })).ok).toBe(true);
    expect(await refusal(verifiedUser(), off.code)).toBe("unknown_code");
    expect(await refusal(verifiedUser(), "NOSUCHCODE")).toBe("unknown_code");
    const unverified = insertUser(db, "unverified@example.com");
    expect(await refusal(unverified, (await newCode()).code)).toBe("email_not_verified");
    const held = verifiedUser();
    db.sqlite.prepare("update users set flagged_at = 1 where id = ?").run(held);
    expect(await refusal(held, (await newCode()).code)).toBe("account_on_hold");
    expect(counts()).toEqual(before);
  });

  it("a failed try keeps its point, a success gives it back; past the limit even a right code is refused", async () => {
    const deps = { db, limiter: createRedeemLimiter({ failuresPerUser: 3, failuresPerIp: 100, windowSeconds: 3600 }, memoryLimiterStore) };
    const user = verifiedUser();
    const code = await newCode();
    expect((await redeemCode(deps, { userId: user, code: code.code, ip: "ip" })).ok).toBe(true);
    for (let i = 0; i < 3; i++) expect((await redeemCode(deps, { userId: user, code: `WRONG${i}XX`, ip: "ip" })).ok).toBe(false);
    const locked = await redeemCode(deps, { userId: user, code: (await newCode()).code, ip: "ip" });
    expect(locked).toMatchObject({ ok: false, reason: "rate_limited" });
  });

  it("a second code with the same text is refused; the same form token is a replay, not a second code", async () => {
    await newCode({ code: "SUMMER2026" });
    expect(await createRedeemCode(db, { adminId: admin, code: "SUMMER2026", credits: 5, creditsExpireAfterMs: null, maxRedemptions: 1, redeemableUntil: null, token: "other" })).toMatchObject({ ok: false, reason: "code_taken" });
    const input = { adminId: admin, code: null, credits: 5, creditsExpireAfterMs: null, maxRedemptions: 1, redeemableUntil: null, token: "same-token" };
    const a = await createRedeemCode(db, input);
    const b = await createRedeemCode(db, input);
    expect(b).toMatchObject({ ok: true, replayed: true });
    expect(a.ok && b.ok && a.code.id === b.code.id).toBe(true);
    const user = verifiedUser();
    expect(await createRedeemCode(db, { ...input, adminId: user, token: "x" })).toMatchObject({ ok: false, reason: "not_admin" });
  });
});
