// Single-use mail links and address verification on SQLite and on a real PostgreSQL (decision
// 036): a token is spent once however many requests race for it, and the verification it proves
// (the address, the admin role, the sign-up bonus) happens once with it.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeEngines, ENGINES, insertUserOn, type EngineDb } from "../../../tests/support/engines";
import { setEmailIfFree } from "./account-settings.server";
import { checkVerificationLink, confirmEmail, type ConfirmResult } from "./verification.server";
import { consumeToken, hashToken, inspectToken, issueToken, peekToken, revokeUnusedTokens } from "./email-tokens.server";

afterAll(async () => {
  await closeEngines();
});

const T = Date.UTC(2026, 11, 1, 12);
const HOUR = 3_600_000;
const config = { adminEmails: new Set<string>(), SIGNUP_BONUS_CREDITS: 25, SIGNUP_BONUS_EXPIRES_AFTER: null };

// What a link's token can be made to look like by whoever edits the URL.
const HOSTILE: Array<[string, unknown]> = [
  ["empty", ""],
  ["too short", "a".repeat(42)],
  ["too long", "a".repeat(44)],
  ["padding", `${"a".repeat(42)}=`],
  ["SQL", `' OR 1=1 --${"a".repeat(32)}`],
  ["LIKE wildcard", "%".repeat(43)],
  ["unicode", "é".repeat(43)],
  ["a number", 12345],
  ["null", null],
  ["an object", { token: "a".repeat(43) }],
  ["an array", ["a".repeat(43)]],
  ["well-formed, unknown", "A".repeat(43)],
];

describe.each(ENGINES)("mail tokens on $name", (engine) => {
  let db: EngineDb;
  let n = 0;
  beforeAll(async () => {
    db = await engine.open();
  }, 60_000);
  const address = (tag: string) => `${tag}-${++n}-${engine.name.toLowerCase()}@example.com`;
  const newUser = async (tag: string) => {
    const email = address(tag);
    return { id: await insertUserOn(db, email), email };
  };

  it("stores only the hash; a newer link retires the older unused one; peek and inspect use nothing", async () => {
    const u = await newUser("issue");
    const first = await issueToken(db, { userId: u.id, purpose: "reset_password", email: u.email, ttlMs: HOUR, now: T });
    const rows = await db.sql.all<{ tokenHash: string }>('SELECT token_hash AS "tokenHash" FROM email_tokens WHERE user_id = ?', [u.id]);
    expect(rows).toEqual([{ tokenHash: hashToken(first) }]);
    expect(JSON.stringify(rows)).not.toContain(first);
    expect(await peekToken(db, "reset_password", first, T)).toMatchObject({ ok: true, token: { userId: u.id, email: u.email, usedAt: null, expiresAt: T + HOUR } });
    expect((await peekToken(db, "reset_password", first, T)).ok).toBe(true); // looking twice uses nothing
    expect((await peekToken(db, "verify_email", first, T)).ok).toBe(false); // another purpose's link opens nothing
    const second = await db.sql.write((tx) => issueToken(tx, { userId: u.id, purpose: "reset_password", email: u.email, ttlMs: HOUR, now: T + 1 }));
    expect(await peekToken(db, "reset_password", first, T + 2)).toEqual({ ok: false, reason: "invalid" });
    expect(await inspectToken(db, "reset_password", first)).toBeUndefined();
    expect((await peekToken(db, "reset_password", second, T + 2)).ok).toBe(true);
    expect(await peekToken(db, "reset_password", second, T + 1 + HOUR)).toEqual({ ok: false, reason: "expired" });
    expect(await inspectToken(db, "reset_password", second)).toMatchObject({ userId: u.id, purpose: "reset_password" });
  });

  it.each(HOSTILE)("refuses a hostile token (%s) and changes nothing", async (_label, raw) => {
    const u = await newUser("hostile");
    const real = await issueToken(db, { userId: u.id, purpose: "reset_password", email: u.email, ttlMs: HOUR, now: T });
    expect(await consumeToken(db, "reset_password", raw, T)).toEqual({ ok: false, reason: "invalid" });
    expect(await peekToken(db, "reset_password", raw, T)).toEqual({ ok: false, reason: "invalid" });
    expect((await peekToken(db, "reset_password", real, T)).ok).toBe(true);
  });

  it("20 concurrent uses of one token: exactly one succeeds, every other is told it was used", async () => {
    const u = await newUser("race");
    const raw = await issueToken(db, { userId: u.id, purpose: "reset_password", email: u.email, ttlMs: HOUR, now: T });
    // Each use in its own transaction, as each request's body is.
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => db.sql.write((tx) => consumeToken(tx, "reset_password", raw, T + i))));
    expect(results.filter((r) => r.ok)).toHaveLength(1);
    expect(results.filter((r) => !r.ok)).toEqual(Array.from({ length: 19 }, () => ({ ok: false, reason: "used" })));
    const row = await db.sql.get<{ usedAt: number }>('SELECT used_at AS "usedAt" FROM email_tokens WHERE token_hash = ?', [hashToken(raw)]);
    expect(row!.usedAt).toBeGreaterThanOrEqual(T);
    // Outside a body the use is a write of its own, and just as single.
    const again = await issueToken(db, { userId: u.id, purpose: "reset_password", email: u.email, ttlMs: HOUR, now: T });
    const alone = await Promise.all(Array.from({ length: 20 }, () => consumeToken(db, "reset_password", again, T)));
    expect(alone.filter((r) => r.ok)).toHaveLength(1);
  });

  it("a use whose transaction rolls back leaves the token usable; an expired one is refused as expired", async () => {
    const u = await newUser("rollback");
    const raw = await issueToken(db, { userId: u.id, purpose: "change_email", email: "new@example.com", ttlMs: HOUR, now: T });
    await expect(
      db.sql.write(async (tx) => {
        expect((await consumeToken(tx, "change_email", raw, T)).ok).toBe(true);
        throw new Error("the work of the link failed");
      }),
    ).rejects.toThrow("the work of the link failed");
    expect((await consumeToken(db, "change_email", raw, T + HOUR)).ok).toBe(false);
    expect(await consumeToken(db, "change_email", raw, T + HOUR)).toEqual({ ok: false, reason: "expired" });
    expect((await consumeToken(db, "change_email", raw, T + 1)).ok).toBe(true);
  });

  it("revokes a user's unused tokens of one purpose only", async () => {
    const u = await newUser("revoke");
    const other = await newUser("revoke-other");
    const reset = await issueToken(db, { userId: u.id, purpose: "reset_password", email: u.email, ttlMs: HOUR, now: T });
    const verify = await issueToken(db, { userId: u.id, purpose: "verify_email", email: u.email, ttlMs: HOUR, now: T });
    const theirs = await issueToken(db, { userId: other.id, purpose: "reset_password", email: other.email, ttlMs: HOUR, now: T });
    expect(await db.sql.write((tx) => revokeUnusedTokens(tx, u.id, "reset_password", T + 1))).toBe(1);
    expect(await revokeUnusedTokens(db, u.id, "reset_password", T + 2)).toBe(0);
    expect(await peekToken(db, "reset_password", reset, T + 3)).toEqual({ ok: false, reason: "used" });
    expect((await peekToken(db, "verify_email", verify, T + 3)).ok).toBe(true);
    expect((await peekToken(db, "reset_password", theirs, T + 3)).ok).toBe(true);
  });

  it("20 concurrent confirmations of one verification link: verified once, one bonus, one ok", async () => {
    const u = await newUser("verify");
    const raw = await issueToken(db, { userId: u.id, purpose: "verify_email", email: u.email, ttlMs: HOUR, now: T });
    expect(await checkVerificationLink(db, raw, T)).toEqual({ ok: true });
    const results = await Promise.all(Array.from({ length: 20 }, () => confirmEmail(db, config, raw, T + 1)));
    const ok = results.filter((r): r is Extract<ConfirmResult, { ok: true }> => r.ok);
    expect(ok).toEqual([{ ok: true, userId: u.id, bonusGranted: 25, admin: false }]);
    for (const r of results.filter((r) => !r.ok)) expect(r).toEqual({ ok: false, reason: "used", alreadyVerified: true, canResend: false });
    const user = await db.sql.get<{ credits: number; verifiedAt: number; role: string }>(
      'SELECT credits, email_verified_at AS "verifiedAt", role FROM users WHERE id = ?',
      [u.id],
    );
    expect(user).toEqual({ credits: 25, verifiedAt: T + 1, role: "user" });
    expect((await db.sql.get<{ n: number }>("SELECT count(*) AS n FROM transactions WHERE user_id = ? AND type = 'bonus'", [u.id]))!.n).toBe(1);
    expect(await checkVerificationLink(db, raw, T + 2)).toEqual({ ok: false, reason: "used", alreadyVerified: true, canResend: false });
  });

  it("a listed address becomes admin when verified; a link to an address the account no longer has opens nothing", async () => {
    const boss = await newUser("boss");
    const raw = await issueToken(db, { userId: boss.id, purpose: "verify_email", email: boss.email, ttlMs: HOUR, now: T });
    expect(await confirmEmail(db, { ...config, adminEmails: new Set([boss.email]), SIGNUP_BONUS_CREDITS: 0 }, raw, T)).toEqual({
      ok: true,
      userId: boss.id,
      bonusGranted: 0,
      admin: true,
    });
    const moved = await newUser("moved");
    const old = await issueToken(db, { userId: moved.id, purpose: "verify_email", email: moved.email, ttlMs: HOUR, now: T });
    await db.sql.run("UPDATE users SET email = ? WHERE id = ?", [address("elsewhere"), moved.id]);
    expect(await checkVerificationLink(db, old, T)).toEqual({ ok: false, reason: "invalid", alreadyVerified: false, canResend: false });
    expect(await confirmEmail(db, config, old, T)).toEqual({ ok: false, reason: "invalid", alreadyVerified: false, canResend: false });
    expect((await db.sql.get<{ credits: number }>("SELECT credits FROM users WHERE id = ?", [moved.id]))!.credits).toBe(0);
    const late = await newUser("late");
    const expired = await issueToken(db, { userId: late.id, purpose: "verify_email", email: late.email, ttlMs: HOUR, now: T });
    expect(await confirmEmail(db, config, expired, T + HOUR)).toEqual({ ok: false, reason: "expired", alreadyVerified: false, canResend: true });
    expect(await confirmEmail(db, config, "not a token", T)).toEqual({ ok: false, reason: "invalid", alreadyVerified: false, canResend: false });
  });

  it("an address change that meets a taken address is refused, and the rest of its transaction still commits", async () => {
    const u = await newUser("swap");
    const holder = await newUser("holder");
    const raw = await issueToken(db, { userId: u.id, purpose: "change_email", email: holder.email, ttlMs: HOUR, now: T });
    const outcome = await db.sql.write(async (tx) => {
      expect((await consumeToken(tx, "change_email", raw, T)).ok).toBe(true);
      // On PostgreSQL the refused UPDATE would abort the transaction without its savepoint.
      const taken = await setEmailIfFree(tx, u.id, holder.email, T);
      const free = await setEmailIfFree(tx, u.id, address("free"), T);
      return { taken, free, email: (await tx.get<{ email: string }>("SELECT email FROM users WHERE id = ?", [u.id]))!.email };
    });
    expect(outcome).toMatchObject({ taken: false, free: true, email: expect.stringMatching(/^free-/) });
    expect(await peekToken(db, "change_email", raw, T)).toEqual({ ok: false, reason: "used" });
    expect((await db.sql.get<{ email: string }>("SELECT email FROM users WHERE id = ?", [holder.id]))!.email).toBe(holder.email);
  });
});
