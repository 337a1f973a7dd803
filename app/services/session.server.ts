import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { createCookie, createSessionStorage, type Session } from "@remix-run/node";
import type { PortableDb } from "#db/client.server";
import type { User } from "#db/schema";
import type { Config } from "./env.server";
import { readerOf, type SqlTarget } from "./sql-target.server";
import { userColumns } from "./users.server";

const SESSION_TTL_MS = 30 * 24 * 60 * 60 * 1000;

export type SessionData = { userId: number };
export type SessionFlash = { toast: Toast };
export type Toast = { kind: "success" | "error" | "info"; title: string; description?: string };
export type AppSession = Session<SessionData, SessionFlash>;

/**
 * The secret that signs the session cookie. Production must set SESSION_SECRET; in development a
 * random secret is generated once and kept in the data folder so restarts keep people signed in.
 */
export function resolveSessionSecret(config: Config): string {
  if (config.SESSION_SECRET) return config.SESSION_SECRET;
  const file = path.join(config.DATA_DIR, ".session-secret");
  try {
    return fs.readFileSync(file, "utf8").trim();
  } catch {
    fs.mkdirSync(config.DATA_DIR, { recursive: true });
    const secret = crypto.randomBytes(32).toString("hex");
    fs.writeFileSync(file, secret, { mode: 0o600 });
    return secret;
  }
}

/**
 * Server-side sessions: the cookie holds only a signed random id, the data lives in the database,
 * so a logout (or an admin) can end a session for good. Every page view reads its session: one
 * statement, which also refuses an expired one.
 */
export function createAppSessionStorage(db: PortableDb, config: Config, secret: string) {
  const cookie = createCookie("__session", {
    httpOnly: true,
    sameSite: "lax",
    secure: config.isProduction && config.appUrl.startsWith("https:"),
    path: "/",
    secrets: [secret],
    maxAge: SESSION_TTL_MS / 1000,
  });
  const userIdOf = (data: Partial<SessionData>) => (typeof data.userId === "number" ? data.userId : null);
  const expiryOf = (expires: Date | undefined) => (expires ?? new Date(Date.now() + SESSION_TTL_MS)).getTime();
  return createSessionStorage<SessionData, SessionFlash>({
    cookie,
    async createData(data, expires) {
      const id = crypto.randomBytes(24).toString("base64url");
      await db.sql.run("INSERT INTO sessions (id, user_id, data, expires_at, created_at) VALUES (?, ?, ?, ?, ?)", [
        id,
        userIdOf(data),
        JSON.stringify(data),
        expiryOf(expires),
        Date.now(),
      ]);
      return id;
    },
    async readData(id) {
      const row = await db.sql.get<{ data: string }>("SELECT data FROM sessions WHERE id = ? AND expires_at > ?", [id, Date.now()]);
      return row ? JSON.parse(row.data) : null;
    },
    async updateData(id, data, expires) {
      await db.sql.run("UPDATE sessions SET user_id = ?, data = ?, expires_at = ? WHERE id = ?", [userIdOf(data), JSON.stringify(data), expiryOf(expires), id]);
    },
    async deleteData(id) {
      await db.sql.run("DELETE FROM sessions WHERE id = ?", [id]);
    },
  });
}

export type AppSessionStorage = ReturnType<typeof createAppSessionStorage>;

export async function deleteExpiredSessions(db: SqlTarget, now = Date.now()): Promise<number> {
  return (await readerOf(db).run("DELETE FROM sessions WHERE expires_at < ?", [now])).changes;
}

/** Ends every session of the user (a reset password, a deleted account); `db` may be a body's `tx`. */
export async function revokeUserSessions(db: SqlTarget, userId: number): Promise<number> {
  return (await readerOf(db).run("DELETE FROM sessions WHERE user_id = ?", [userId])).changes;
}

/** A session as the account page lists it. */
export type SessionSummary = { id: string; userAgent: string | null; ip: string | null; lastSeenAt: number | null; createdAt: number };
export type SessionClient = { userAgent: string | null; ip: string | null };

// Every page view reads the session; writing last_seen_at each time would turn reads into writes.
export const LAST_SEEN_RESOLUTION_MS = 60_000;

const USER_AGENT_MAX = 512;

/** Whether a session last seen at `lastSeenAt` is due a new note at `now`. */
export function sessionUseDue(lastSeenAt: number | null, now: number): boolean {
  return lastSeenAt === null || now - lastSeenAt >= LAST_SEEN_RESOLUTION_MS;
}

// The guard repeats the minute check, so two page views racing past the read write once.
const TOUCH_SESSION = "UPDATE sessions SET user_agent = ?, ip = ?, last_seen_at = ? WHERE id = ? AND (last_seen_at IS NULL OR last_seen_at <= ?)";
const TOUCH_SESSION_FORCED = "UPDATE sessions SET user_agent = ?, ip = ?, last_seen_at = ? WHERE id = ?";

async function touchSession(db: PortableDb, sessionId: string, client: SessionClient, now: number, force: boolean): Promise<boolean> {
  const values = [client.userAgent?.slice(0, USER_AGENT_MAX) ?? null, client.ip?.slice(0, 64) ?? null, now, sessionId];
  const done = force ? await db.sql.run(TOUCH_SESSION_FORCED, values) : await db.sql.run(TOUCH_SESSION, [...values, now - LAST_SEEN_RESOLUTION_MS]);
  return done.changes > 0;
}

/**
 * Notes who uses a session and when: at creation (`force`) and at most once a minute after that.
 * The read comes first so a page view within the minute writes nothing. `lastSeenAt`: the caller
 * read it already (sessionUserOf), so the read is skipped.
 */
export async function recordSessionUse(
  db: PortableDb,
  sessionId: string,
  client: SessionClient,
  now = Date.now(),
  force = false,
  lastSeenAt?: number | null,
): Promise<boolean> {
  if (!force) {
    const seen =
      lastSeenAt !== undefined
        ? { lastSeenAt }
        : await db.sql.get<{ lastSeenAt: number | null }>('SELECT last_seen_at AS "lastSeenAt" FROM sessions WHERE id = ?', [sessionId]);
    if (!seen || !sessionUseDue(seen.lastSeenAt, now)) return false;
  }
  return touchSession(db, sessionId, client, now, force);
}

const SESSION_USER = `SELECT ${userColumns("u")}, s.last_seen_at AS "sessionLastSeenAt", CASE WHEN s.id IS NULL THEN 0 ELSE 1 END AS "sessionFound"
  FROM users u LEFT JOIN sessions s ON s.id = ? AND s.user_id = u.id WHERE u.id = ?`;

/**
 * The signed-in user and when their session was last noted, in one statement (every page view
 * runs it): `session` is null when the session row is gone.
 */
export async function sessionUserOf(
  db: PortableDb,
  sessionId: string | null,
  userId: number,
): Promise<{ user: User; session: { lastSeenAt: number | null } | null } | undefined> {
  const row = await db.sql.get<User & { sessionLastSeenAt: number | null; sessionFound: number }>(SESSION_USER, [sessionId ?? "", userId]);
  if (!row) return undefined;
  const { sessionLastSeenAt, sessionFound, ...user } = row;
  return { user, session: sessionFound === 1 ? { lastSeenAt: sessionLastSeenAt } : null };
}

export async function listUserSessions(db: PortableDb, userId: number, now = Date.now()): Promise<SessionSummary[]> {
  // NULLS LAST spelled out: PostgreSQL puts NULLs first in a descending order, SQLite last.
  return db.sql.all<SessionSummary>(
    `SELECT id, user_agent AS "userAgent", ip, last_seen_at AS "lastSeenAt", created_at AS "createdAt"
     FROM sessions WHERE user_id = ? AND expires_at > ? ORDER BY last_seen_at DESC NULLS LAST, created_at DESC`,
    [userId, now],
  );
}

/** "Sign out everywhere else": every session of the user but `keepId` ends for good. */
export async function revokeOtherSessions(db: SqlTarget, userId: number, keepId: string | null): Promise<number> {
  const run = readerOf(db);
  return (keepId
    ? await run.run("DELETE FROM sessions WHERE user_id = ? AND id <> ?", [userId, keepId])
    : await run.run("DELETE FROM sessions WHERE user_id = ?", [userId])
  ).changes;
}
