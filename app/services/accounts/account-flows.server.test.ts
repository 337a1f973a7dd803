// The account flows that queue mail (reset, password and address change, deletion). The mail queue
// still writes through the SQLite connection (decision 036: not ported yet), so these run on
// SQLite; their tokens, sessions and users statements are the portable ones the both-engines
// tests run on PostgreSQL too.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createTestDb, insertUser } from "../../../tests/support/db";
import { authLimitsFromConfig, createAuthRateLimiter } from "../auth-rate-limit.server";
import { parseEnv, type Config } from "../env.server";
import { memoryLimiterStore } from "../limiter-store.server";
import { grant, hold } from "../money/ledger.server";
import { hashPassword, verifyPassword } from "../password.server";
import { createAppSessionStorage } from "../session.server";
import { findUserById } from "../users.server";
import { createAccountMailLimiter } from "./account-limits.server";
import { deletedEmailFor, eraseAccount } from "./account-deletion.server";
import { changePassword, confirmEmailChange, requestEmailChange } from "./account-settings.server";
import { issueToken, peekToken } from "./email-tokens.server";
import { requestPasswordReset, resetPassword, RESET_TOKEN_TTL_MS } from "./password-reset.server";

let db: ReturnType<typeof createTestDb>;
let config: Config;
beforeEach(() => {
  db = createTestDb();
  config = parseEnv({ DATA_DIR: db.dir, AUTH_RATE_LIMIT_DISABLED: "1", SIGNUP_BONUS_CREDITS: "0" });
});
afterEach(() => db.remove());

const limiter = () => createAuthRateLimiter(authLimitsFromConfig(config), memoryLimiterStore);
const mailLimiter = () => createAccountMailLimiter(true, memoryLimiterStore);
const mails = (to: string, kind: string) => (db.sqlite.prepare("SELECT count(*) AS n FROM mail_queue WHERE to_address = ? AND kind = ?").get(to, kind) as { n: number }).n;
const sessionCount = (userId: number) => (db.sqlite.prepare("SELECT count(*) AS n FROM sessions WHERE user_id = ?").get(userId) as { n: number }).n;

async function account(email: string, password = "old-password-1") {
  const id = insertUser(db, email);
  db.sqlite.prepare("UPDATE users SET password_hash = ?, email_verified_at = 1 WHERE id = ?").run(await hashPassword(password), id);
  return (await findUserById(db, id))!;
}

async function sessionsOf(userId: number, count: number): Promise<string[]> {
  const storage = createAppSessionStorage(db, config, "s".repeat(32));
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const s = await storage.getSession();
    s.set("userId", userId);
    ids.push((await storage.getSession((await storage.commitSession(s)).split(";")[0])).id);
  }
  return ids;
}

describe("password reset", () => {
  it("queues a link for a live account only, with the same answer for an unknown address", async () => {
    const user = await account("reset@example.com");
    expect(await requestPasswordReset({ db, config, limiter: mailLimiter() }, { ip: "198.51.100.1", email: " RESET@example.com " })).toEqual({ ok: true });
    expect(await requestPasswordReset({ db, config, limiter: mailLimiter() }, { ip: "198.51.100.1", email: "nobody@example.com" })).toEqual({ ok: true });
    expect(mails(user.email, "reset_password")).toBe(1);
    expect(mails("nobody@example.com", "reset_password")).toBe(0);
  });

  it("20 concurrent resets with one link: exactly one sets the password, every session ends, one mail", async () => {
    const user = await account("race@example.com");
    await sessionsOf(user.id, 3);
    const raw = await issueToken(db, { userId: user.id, purpose: "reset_password", email: user.email, ttlMs: RESET_TOKEN_TTL_MS });
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => resetPassword({ db, config }, { token: raw, password: `new-password-${i}` })));
    const winners = results.filter((r) => r.ok);
    expect(winners).toHaveLength(1);
    expect(results.filter((r) => !r.ok)).toEqual(Array.from({ length: 19 }, () => ({ ok: false, reason: "used" })));
    const winner = results.findIndex((r) => r.ok);
    const after = (await findUserById(db, user.id))!;
    expect(await verifyPassword(`new-password-${winner}`, after.passwordHash)).toBe(true);
    expect(sessionCount(user.id)).toBe(0);
    expect(mails(user.email, "password_changed")).toBe(1);
  });

  it("a link sent to an address the account no longer has, or a hostile token, changes nothing", async () => {
    const user = await account("moved@example.com");
    const raw = await issueToken(db, { userId: user.id, purpose: "reset_password", email: user.email, ttlMs: RESET_TOKEN_TTL_MS });
    db.sqlite.prepare("UPDATE users SET email = 'elsewhere@example.com' WHERE id = ?").run(user.id);
    expect(await resetPassword({ db, config }, { token: raw, password: "new-password-1" })).toEqual({ ok: false, reason: "invalid" });
    for (const token of ["", "x".repeat(43), null, 7, { raw }]) expect(await resetPassword({ db, config }, { token, password: "new-password-1" })).toEqual({ ok: false, reason: "invalid" });
    expect((await findUserById(db, user.id))!.passwordHash).toBe(user.passwordHash);
  });
});

describe("account settings", () => {
  it("a new password ends every other session and the reset links; the current session stays", async () => {
    const user = await account("change@example.com");
    const [current] = await sessionsOf(user.id, 3);
    const link = await issueToken(db, { userId: user.id, purpose: "reset_password", email: user.email, ttlMs: RESET_TOKEN_TTL_MS });
    const input = { ip: "198.51.100.2", user, sessionId: current!, currentPassword: "old-password-1", newPassword: "new-password-2" };
    expect(await changePassword({ db, config, limiter: limiter() }, { ...input, currentPassword: "wrong" })).toMatchObject({ ok: false, reason: "wrong_password" });
    expect(sessionCount(user.id)).toBe(3);
    expect(await changePassword({ db, config, limiter: limiter() }, input)).toEqual({ ok: true });
    expect(db.sqlite.prepare("SELECT id FROM sessions WHERE user_id = ?").all(user.id)).toEqual([{ id: current }]);
    expect((await peekToken(db, "reset_password", link)).ok).toBe(false);
    expect(mails(user.email, "password_changed")).toBe(1);
  });

  it("an address change: 20 confirmations at once swap it once; a taken address is refused and the link is spent", async () => {
    const user = await account("before@example.com");
    const deps = { db, config, limiter: limiter(), mailLimiter: mailLimiter() };
    expect(await requestEmailChange(deps, { ip: "198.51.100.3", user, password: "old-password-1", newEmail: "After@example.com" })).toEqual({ ok: true });
    expect(db.sqlite.prepare("SELECT email FROM email_tokens WHERE user_id = ? AND purpose = 'change_email' AND used_at IS NULL").all(user.id)).toEqual([{ email: "after@example.com" }]);
    expect(mails("after@example.com", "change_email")).toBe(1);
    expect(mails("before@example.com", "email_change_requested")).toBe(1);
    // The raw token is only in the mail: a fresh one (which retires that one) stands in for it.
    const token = await issueToken(db, { userId: user.id, purpose: "change_email", email: "after@example.com", ttlMs: RESET_TOKEN_TTL_MS });
    const results = await Promise.all(Array.from({ length: 20 }, () => confirmEmailChange({ db, config }, token)));
    expect(results.filter((r) => r.ok)).toHaveLength(1);
    expect(results.filter((r) => !r.ok).every((r) => !r.ok && r.reason === "used")).toBe(true);
    expect((await findUserById(db, user.id))!.email).toBe("after@example.com");
    expect(mails("before@example.com", "email_changed")).toBe(1);

    const other = await account("other@example.com");
    const taken = await issueToken(db, { userId: other.id, purpose: "change_email", email: "after@example.com", ttlMs: RESET_TOKEN_TTL_MS });
    expect(await confirmEmailChange({ db, config }, taken)).toEqual({ ok: false, reason: "unavailable" });
    expect((await findUserById(db, other.id))!.email).toBe("other@example.com");
    expect(await peekToken(db, "change_email", taken)).toEqual({ ok: false, reason: "used" });
    expect(mails("other@example.com", "email_changed")).toBe(0);
  });
});

describe("account deletion", () => {
  it("empties the account once: sessions, tokens and holds end, the address is freed, a second erase does nothing", async () => {
    const user = await account("leaving@example.com");
    await sessionsOf(user.id, 2);
    await issueToken(db, { userId: user.id, purpose: "reset_password", email: user.email, ttlMs: RESET_TOKEN_TTL_MS });
    await grant(db, { userId: user.id, amount: 10, type: "bonus", key: `seed:${user.id}`, description: "seed" });
    const held = await hold(db, { userId: user.id, cost: 4, key: `h:${user.id}`, description: "x", ttlSeconds: 600 });
    expect(held.ok).toBe(true);
    const results = await Promise.all(Array.from({ length: 5 }, () => eraseAccount(db, user.id)));
    expect(results.filter((r) => r !== null)).toEqual([{ generationIds: [] }]);
    const after = (await findUserById(db, user.id))!;
    expect(after).toMatchObject({ email: deletedEmailFor(user.id), passwordHash: "!deleted", emailVerifiedAt: null, credits: 10 });
    expect(after.deletedAt).not.toBeNull();
    expect(sessionCount(user.id)).toBe(0);
    expect(db.sqlite.prepare("SELECT count(*) AS n FROM email_tokens WHERE user_id = ?").get(user.id)).toEqual({ n: 0 });
    expect(db.sqlite.prepare("SELECT status FROM transactions WHERE user_id = ? AND type = 'usage'").get(user.id)).toEqual({ status: "voided" });
    expect(mails("leaving@example.com", "account_deleted")).toBe(1);
  });
});
