import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { createCookie, createSessionStorage, type Session } from "@remix-run/node";
import { and, desc, eq, gt, lt, ne, sql } from "drizzle-orm";
import type { AppDb } from "#db/client.server";
import { prepared } from "#db/prepared.server";
import { sessions } from "#db/schema";
import type { Config } from "./env.server";

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
 * Server-side sessions: the cookie holds only a signed random id, the data lives in SQLite, so a
 * logout (or an admin) can end a session for good.
 */
export function createAppSessionStorage(db: AppDb, config: Config, secret: string) {
  const cookie = createCookie("__session", {
    httpOnly: true,
    sameSite: "lax",
    secure: config.isProduction && config.appUrl.startsWith("https:"),
    path: "/",
    secrets: [secret],
    maxAge: SESSION_TTL_MS / 1000,
  });
  return createSessionStorage<SessionData, SessionFlash>({
    cookie,
    async createData(data, expires) {
      const id = crypto.randomBytes(24).toString("base64url");
      db.orm
        .insert(sessions)
        .values({
          id,
          userId: typeof data.userId === "number" ? data.userId : null,
          data: JSON.stringify(data),
          expiresAt: (expires ?? new Date(Date.now() + SESSION_TTL_MS)).getTime(),
        })
        .run();
      return id;
    },
    async readData(id) {
      const row = prepared(db, "sessionById", (d) =>
        d.orm.select().from(sessions).where(eq(sessions.id, sql.placeholder("id"))).prepare(),
      ).get({ id });
      if (!row || row.expiresAt <= Date.now()) return null;
      return JSON.parse(row.data);
    },
    async updateData(id, data, expires) {
      db.orm
        .update(sessions)
        .set({
          userId: typeof data.userId === "number" ? data.userId : null,
          data: JSON.stringify(data),
          expiresAt: (expires ?? new Date(Date.now() + SESSION_TTL_MS)).getTime(),
        })
        .where(eq(sessions.id, id))
        .run();
    },
    async deleteData(id) {
      db.orm.delete(sessions).where(eq(sessions.id, id)).run();
    },
  });
}

export type AppSessionStorage = ReturnType<typeof createAppSessionStorage>;

export function deleteExpiredSessions(db: AppDb, now = Date.now()): number {
  return db.orm.delete(sessions).where(lt(sessions.expiresAt, now)).run().changes;
}

export function revokeUserSessions(db: AppDb, userId: number): number {
  return db.orm.delete(sessions).where(eq(sessions.userId, userId)).run().changes;
}

/** A session as the account page lists it. */
export type SessionSummary = { id: string; userAgent: string | null; ip: string | null; lastSeenAt: number | null; createdAt: number };
export type SessionClient = { userAgent: string | null; ip: string | null };

// Every page view reads the session; writing last_seen_at each time would turn reads into writes.
export const LAST_SEEN_RESOLUTION_MS = 60_000;

const USER_AGENT_MAX = 512;

/**
 * Notes who uses a session and when: at creation (`force`) and at most once a minute after that.
 * The read comes first so a page view within the minute writes nothing.
 */
export function recordSessionUse(db: AppDb, sessionId: string, client: SessionClient, now = Date.now(), force = false): boolean {
  const row = prepared(db, "sessionLastSeen", (d) =>
    d.orm.select({ lastSeenAt: sessions.lastSeenAt }).from(sessions).where(eq(sessions.id, sql.placeholder("id"))).prepare(),
  ).get({ id: sessionId });
  if (!row) return false;
  if (!force && row.lastSeenAt !== null && now - row.lastSeenAt < LAST_SEEN_RESOLUTION_MS) return false;
  db.orm
    .update(sessions)
    .set({ userAgent: client.userAgent?.slice(0, USER_AGENT_MAX) ?? null, ip: client.ip?.slice(0, 64) ?? null, lastSeenAt: now })
    .where(eq(sessions.id, sessionId))
    .run();
  return true;
}

export function listUserSessions(db: AppDb, userId: number, now = Date.now()): SessionSummary[] {
  return db.orm
    .select({ id: sessions.id, userAgent: sessions.userAgent, ip: sessions.ip, lastSeenAt: sessions.lastSeenAt, createdAt: sessions.createdAt })
    .from(sessions)
    .where(and(eq(sessions.userId, userId), gt(sessions.expiresAt, now)))
    .orderBy(desc(sessions.lastSeenAt), desc(sessions.createdAt))
    .all();
}

/** "Sign out everywhere else": every session of the user but `keepId` ends for good. */
export function revokeOtherSessions(db: AppDb, userId: number, keepId: string | null): number {
  const mine = eq(sessions.userId, userId);
  return db.orm.delete(sessions).where(keepId ? and(mine, ne(sessions.id, keepId)) : mine).run().changes;
}
