import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createTestDb, insertUser } from "../../tests/support/db";
import { parseEnv } from "./env.server";
import { createAppSessionStorage, deleteExpiredSessions, resolveSessionSecret, revokeUserSessions } from "./session.server";

let db: ReturnType<typeof createTestDb>;
beforeEach(() => {
  db = createTestDb();
});
afterEach(() => db.remove());

function storage(production = false) {
  const config = parseEnv(
    production
      ? { NODE_ENV: "production", SESSION_SECRET: "s".repeat(32), STRIPE_EMULATOR: "on", MAIL_OUTBOX: "on", APP_URL: "https://credits.example" }
      : { DATA_DIR: db.dir },
  );
  return createAppSessionStorage(db, config, resolveSessionSecret(config));
}

describe("server-side sessions", () => {
  it("stores only a signed id in the cookie and the data in SQLite", async () => {
    const userId = insertUser(db, "a@example.com");
    const sessions = storage();
    const session = await sessions.getSession();
    session.set("userId", userId);
    const setCookie = await sessions.commitSession(session);
    expect(setCookie).toMatch(/^__session=/);
    expect(setCookie).toMatch(/HttpOnly/);
    expect(setCookie).toMatch(/SameSite=Lax/);
    expect(setCookie).not.toMatch(/Secure/);
    expect(setCookie).not.toContain(String(`"userId":${userId}`));
    const row = db.sqlite.prepare("select user_id from sessions").get() as { user_id: number };
    expect(row.user_id).toBe(userId);

    const cookie = setCookie.split(";")[0]!;
    const again = await sessions.getSession(cookie);
    expect(again.get("userId")).toBe(userId);
  });

  it("marks the cookie Secure in production over https", async () => {
    const sessions = storage(true);
    const session = await sessions.getSession();
    session.set("userId", insertUser(db, "b@example.com"));
    expect(await sessions.commitSession(session)).toMatch(/Secure/);
  });

  it("a tampered cookie is ignored", async () => {
    const sessions = storage();
    const session = await sessions.getSession();
    session.set("userId", insertUser(db, "c@example.com"));
    const cookie = (await sessions.commitSession(session)).split(";")[0]!;
    const tampered = cookie.slice(0, -3) + (cookie.endsWith("abc") ? "xyz" : "abc");
    expect((await sessions.getSession(tampered)).get("userId")).toBeUndefined();
  });

  it("destroying a session (logout) makes the old cookie worthless", async () => {
    const sessions = storage();
    const session = await sessions.getSession();
    session.set("userId", insertUser(db, "d@example.com"));
    const cookie = (await sessions.commitSession(session)).split(";")[0]!;
    await sessions.destroySession(await sessions.getSession(cookie));
    expect((await sessions.getSession(cookie)).get("userId")).toBeUndefined();
  });

  it("revokes every session of a user and sweeps expired ones", async () => {
    const sessions = storage();
    const userId = insertUser(db, "e@example.com");
    const cookies: string[] = [];
    for (let i = 0; i < 2; i++) {
      const s = await sessions.getSession();
      s.set("userId", userId);
      cookies.push((await sessions.commitSession(s)).split(";")[0]!);
    }
    expect(await revokeUserSessions(db, userId)).toBe(2);
    for (const cookie of cookies) expect((await sessions.getSession(cookie)).get("userId")).toBeUndefined();

    const s = await sessions.getSession();
    s.set("userId", userId);
    await sessions.commitSession(s, { expires: new Date(Date.now() - 1000) });
    expect(await deleteExpiredSessions(db)).toBe(1);
  });

  it("keeps a generated development secret in the data folder", () => {
    const config = parseEnv({ DATA_DIR: db.dir });
    const first = resolveSessionSecret(config);
    expect(first).toHaveLength(64);
    expect(resolveSessionSecret(config)).toBe(first);
  });
});
