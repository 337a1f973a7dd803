import crypto from "node:crypto";
import path from "node:path";
import { openDatabase, type AppDb } from "../../db/client.server";
import { HttpClient } from "./server";

/** Test set-up and checks on a running server's database file (WAL: safe while it runs). */
export function withServerDb<T>(dataDir: string, fn: (db: AppDb) => T): T {
  const db = openDatabase(path.join(dataDir, "app.sqlite"));
  const close = () => db.sqlite.close();
  let result: T;
  try {
    result = fn(db);
  } catch (error) {
    close();
    throw error;
  }
  // An asynchronous body (a ledger write) closes the database once it has settled.
  if (result instanceof Promise) return result.finally(close) as T;
  close();
  return result;
}

export function userRow(dataDir: string, id: number) {
  return withServerDb(dataDir, (db) =>
    db.sqlite.prepare("SELECT id, email, password_hash AS passwordHash, deleted_at AS deletedAt, email_verified_at AS emailVerifiedAt FROM users WHERE id = ?").get(id),
  ) as { id: number; email: string; passwordHash: string; deletedAt: number | null; emailVerifiedAt: number | null } | undefined;
}

export function userIdByEmail(dataDir: string, email: string): number | undefined {
  return withServerDb(dataDir, (db) => (db.sqlite.prepare("SELECT id FROM users WHERE email = ?").get(email) as { id: number } | undefined)?.id);
}

export function uniqueAddress(tag: string): string {
  return `${tag}-${crypto.randomBytes(4).toString("hex")}@example.com`;
}

/** A signed-in client (a second "device") for an existing account, through the real log-in form. */
export async function loggedInClient(base: string, email: string, password: string, userAgent?: string): Promise<HttpClient> {
  const client = new HttpClient(base);
  const res = await client.post("/login", { email, password }, userAgent ? { headers: { "User-Agent": userAgent } } : {});
  if (res.status !== 303) throw new Error(`login failed: ${res.status}`);
  return client;
}

/** Whether the client's session still opens the JSON API (401 once it was signed out). */
export async function isSignedIn(client: HttpClient): Promise<boolean> {
  const res = await client.get("/api/credits");
  if (res.status !== 200 && res.status !== 401) throw new Error(`unexpected ${res.status}`);
  return res.status === 200;
}

/** The page's HTML without what differs between any two responses (CSP nonces, request ids). */
export function stableHtml(html: string): string {
  return html.replace(/nonce="[^"]*"/g, 'nonce=""').replace(/"requestId":"[^"]*"/g, '"requestId":""');
}
