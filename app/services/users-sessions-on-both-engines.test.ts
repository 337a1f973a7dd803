// Accounts and server-side sessions on SQLite and on a real PostgreSQL (decision 036): the same
// functions, the same SQL text, the same outcomes, races included.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeEngines, ENGINES, insertUserOn, type EngineDb } from "../../tests/support/engines";
import { parseEnv } from "./env.server";
import {
  createAppSessionStorage,
  deleteExpiredSessions,
  LAST_SEEN_RESOLUTION_MS,
  listUserSessions,
  recordSessionUse,
  revokeOtherSessions,
  revokeUserSessions,
  sessionUserOf,
} from "./session.server";
import { createUser, EmailTakenError, findUserByEmail, findUserById, syncAdminRoles } from "./users.server";

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "sessions-engines-"));
afterAll(async () => {
  await closeEngines();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

const T = Date.UTC(2026, 11, 1, 12);

describe.each(ENGINES)("accounts and sessions on $name", (engine) => {
  let db: EngineDb;
  let n = 0;
  beforeAll(async () => {
    db = await engine.open();
  }, 60_000);
  const address = (tag: string) => `${tag}-${++n}-${engine.name.toLowerCase()}@example.com`;
  const storage = () => createAppSessionStorage(db, parseEnv({ DATA_DIR: dataDir }), "s".repeat(32));
  const cookieOf = (setCookie: string) => setCookie.split(";")[0]!;
  async function signedIn(userId: number, expires?: Date): Promise<{ cookie: string; id: string }> {
    const sessions = storage();
    const session = await sessions.getSession();
    session.set("userId", userId);
    const cookie = cookieOf(await sessions.commitSession(session, expires ? { expires } : undefined));
    return { cookie, id: (await sessions.getSession(cookie)).id };
  }

  it("creates a lower-cased, unverified account in the shape callers had from drizzle", async () => {
    const email = address("new");
    const user = await createUser(db, { email: `  ${email.toUpperCase()} `, passwordHash: "h" });
    expect(user).toEqual({
      id: expect.any(Number),
      email,
      passwordHash: "h",
      role: "user",
      credits: 0,
      stripeCustomerId: null,
      flaggedAt: null,
      flaggedReason: null,
      emailVerifiedAt: null,
      deletedAt: null,
      createdAt: expect.any(Number),
      updatedAt: expect.any(Number),
    });
    expect(await findUserById(db, user.id)).toEqual(user);
    expect(await findUserByEmail(db, email.toUpperCase())).toEqual(user);
    expect(await findUserById(db, 999_999_999)).toBeUndefined();
  });

  it("20 sign-ups for one address at once: exactly one account, the others are told it is taken", async () => {
    const email = address("race");
    let work = 0;
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) => createUser(db, { email: i % 2 ? email : email.toUpperCase(), passwordHash: `h${i}` }, () => void work++)),
    );
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    expect(refused).toHaveLength(19);
    for (const r of refused) expect(r.reason).toBeInstanceOf(EmailTakenError);
    expect(work).toBe(1);
    expect((await db.sql.get<{ n: number }>("SELECT count(*) AS n FROM users WHERE email = ?", [email]))!.n).toBe(1);
  });

  it("the work of the sign-up's transaction runs in it: its failure leaves no account, its rows commit with it", async () => {
    const failed = address("boom");
    await expect(
      createUser(db, { email: failed, passwordHash: "h" }, async (tx, user) => {
        await tx.run("INSERT INTO sessions (id, user_id, data, expires_at) VALUES (?, ?, '{}', ?)", [`s-${user.id}`, user.id, T]);
        throw new Error("boom");
      }),
    ).rejects.toThrow("boom");
    expect(await findUserByEmail(db, failed)).toBeUndefined();
    const kept = await createUser(db, { email: address("kept"), passwordHash: "h" }, async (tx, user) => {
      // The body's own row is visible through tx before the commit.
      expect((await findUserById(tx, user.id))?.email).toBe(user.email);
      await tx.run("INSERT INTO sessions (id, user_id, data, expires_at) VALUES (?, ?, '{}', ?)", [`s-${user.id}`, user.id, T]);
    });
    expect((await db.sql.get<{ n: number }>("SELECT count(*) AS n FROM sessions WHERE user_id = ?", [kept.id]))!.n).toBe(1);
  });

  it("ADMIN_EMAILS promotes listed, verified, live accounts and demotes every other admin", async () => {
    const [a, b, c, d] = ["a", "b", "c", "d"].map((x) => address(`roles-${x}`));
    for (const e of [a, b, c, d]) await createUser(db, { email: e!, passwordHash: "h" });
    await db.sql.run("UPDATE users SET email_verified_at = ? WHERE email IN (?, ?, ?)", [T, a, b, d]);
    await db.sql.run("UPDATE users SET role = 'admin' WHERE email IN (?, ?, ?)", [a, c, d]);
    await db.sql.run("UPDATE users SET deleted_at = ? WHERE email = ?", [T, d]);
    // Other accounts of this database are plain users: the counts are this test's four.
    await db.sql.run("UPDATE users SET role = 'user' WHERE email NOT IN (?, ?, ?, ?)", [a, b, c, d]);
    expect(await syncAdminRoles(db, new Set([b!, c!, d!]))).toEqual({ promoted: 1, demoted: 3 });
    const roles = async () => Promise.all([a, b, c, d].map(async (e) => (await findUserByEmail(db, e!))?.role));
    expect(await roles()).toEqual(["user", "admin", "user", "user"]);
    expect(await syncAdminRoles(db, new Set([b!]))).toEqual({ promoted: 0, demoted: 0 });
    expect(await syncAdminRoles(db, new Set())).toEqual({ promoted: 0, demoted: 1 });
    expect(await roles()).toEqual(["user", "user", "user", "user"]);
  });

  it("a session's data lives in the database; a logout, an expiry or a tampered cookie ends it", async () => {
    const userId = await insertUserOn(db, address("session"));
    const sessions = storage();
    const { cookie, id } = await signedIn(userId);
    const row = await db.sql.get<{ userId: number; data: string }>('SELECT user_id AS "userId", data FROM sessions WHERE id = ?', [id]);
    expect(row).toEqual({ userId, data: JSON.stringify({ userId }) });
    expect(cookie).not.toContain(id); // signed, not the bare id
    const again = await sessions.getSession(cookie);
    expect(again.get("userId")).toBe(userId);
    again.flash("toast", { kind: "info", title: "hello" });
    await sessions.commitSession(again);
    expect((await sessions.getSession(cookie)).get("toast")).toEqual({ kind: "info", title: "hello" });

    const tampered = cookie.slice(0, -3) + (cookie.endsWith("abc") ? "xyz" : "abc");
    expect((await sessions.getSession(tampered)).get("userId")).toBeUndefined();
    await sessions.destroySession(await sessions.getSession(cookie));
    expect((await sessions.getSession(cookie)).get("userId")).toBeUndefined();

    const expired = await signedIn(userId, new Date(Date.now() - 1000));
    expect((await sessions.getSession(expired.cookie)).get("userId")).toBeUndefined();
    expect(await deleteExpiredSessions(db)).toBeGreaterThanOrEqual(1);
    expect(await db.sql.get("SELECT id FROM sessions WHERE id = ?", [expired.id])).toBeUndefined();
  });

  it("revokes every session, or every other one, of one user only", async () => {
    const userId = await insertUserOn(db, address("revoke"));
    const other = await insertUserOn(db, address("bystander"));
    const mine = await Promise.all([signedIn(userId), signedIn(userId), signedIn(userId)]);
    const theirs = await signedIn(other);
    expect(await revokeOtherSessions(db, userId, mine[0]!.id)).toBe(2);
    expect((await listUserSessions(db, userId)).map((s) => s.id)).toEqual([mine[0]!.id]);
    expect(await db.sql.write((tx) => revokeUserSessions(tx, userId))).toBe(1);
    expect(await listUserSessions(db, userId)).toEqual([]);
    expect(await revokeOtherSessions(db, other, null)).toBe(1);
    expect((await storage().getSession(theirs.cookie)).get("userId")).toBeUndefined();
  });

  it("notes a session's use at most once a minute, once however many page views race; lists the last used first", async () => {
    const userId = await insertUserOn(db, address("seen"));
    const [a, b, c] = await Promise.all([signedIn(userId), signedIn(userId), signedIn(userId)]);
    const client = { userAgent: "Firefox ".repeat(100), ip: "203.0.113.9" };
    const firstUses = await Promise.all(Array.from({ length: 20 }, () => recordSessionUse(db, a!.id, client, T)));
    expect(firstUses.filter(Boolean)).toHaveLength(1);
    expect(await recordSessionUse(db, a!.id, client, T + LAST_SEEN_RESOLUTION_MS - 1)).toBe(false);
    expect(await recordSessionUse(db, a!.id, client, T + LAST_SEEN_RESOLUTION_MS)).toBe(true);
    expect(await recordSessionUse(db, b!.id, { userAgent: null, ip: null }, T + 5, true)).toBe(true);
    expect(await recordSessionUse(db, "no-such-session", client, T)).toBe(false);
    const listed = await listUserSessions(db, userId);
    // c was never seen (NULL): last on both engines.
    expect(listed.map((s) => s.id)).toEqual([a!.id, b!.id, c!.id]);
    expect(listed[0]).toEqual({ id: a!.id, userAgent: client.userAgent.slice(0, 512), ip: "203.0.113.9", lastSeenAt: T + LAST_SEEN_RESOLUTION_MS, createdAt: expect.any(Number) });
    expect(listed[2]!.lastSeenAt).toBeNull();
    expect(await listUserSessions(db, userId, Date.now() + 31 * 86_400_000)).toEqual([]);
  });

  it("reads the signed-in user with the session's last note in one statement", async () => {
    const userId = await insertUserOn(db, address("page"));
    const { id } = await signedIn(userId);
    expect(await sessionUserOf(db, id, userId)).toMatchObject({ user: { id: userId, role: "user" }, session: { lastSeenAt: null } });
    await recordSessionUse(db, id, { userAgent: "x", ip: null }, T, true);
    expect((await sessionUserOf(db, id, userId))?.session).toEqual({ lastSeenAt: T });
    // Another user's session id, or none, finds the user without a session.
    const other = await insertUserOn(db, address("other"));
    expect((await sessionUserOf(db, id, other))?.session).toBeNull();
    expect((await sessionUserOf(db, null, userId))?.session).toBeNull();
    expect(await sessionUserOf(db, id, 999_999_999)).toBeUndefined();
  });
});
