import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { createCookie, createSessionStorage, type Session } from "@remix-run/node";
import { eq, lt, sql } from "drizzle-orm";
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
