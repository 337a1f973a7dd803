/**
 * The one place tests read mail the app sent. Today: the app's mail_queue table, in its SQLite
 * file (WAL: safe to read while the server runs) through the synchronous mailsTo / latestMailTo /
 * linkPathFrom, or on whichever database the server runs (SQLite or PostgreSQL, through the
 * portable executor) through their asynchronous *On twins, which suites that run on both engines
 * use. Switching to a real SMTP capture means changing only this file.
 */
import path from "node:path";
import Database from "better-sqlite3";
import type { RunningServer } from "./server";
import { withServerSql } from "./server-sql";

export type CapturedMail = { id: number; subject: string; text: string; html: string; links: string[]; kind: string };

function openQueue(dataDir: string) {
  const db = new Database(path.join(dataDir, "app.sqlite"), { fileMustExist: true });
  db.pragma("busy_timeout = 5000");
  return db;
}

type Row = { id: number; subject: string; text_body: string; html_body: string; kind: string };

function toMail(row: Row): CapturedMail {
  const links = [...row.text_body.matchAll(/https?:\/\/[^\s<>"]+/g)].map((m) => m[0]);
  return { id: row.id, subject: row.subject, text: row.text_body, html: row.html_body, links, kind: row.kind };
}

/** Every message queued for `address` (oldest first), optionally of one kind. */
export function mailsTo(dataDir: string, address: string, kind?: string): CapturedMail[] {
  const db = openQueue(dataDir);
  try {
    const rows = db
      .prepare<[string, string | null, string | null], Row>(
        "select id, subject, text_body, html_body, kind from mail_queue where to_address = ? and (? is null or kind = ?) order by id",
      )
      .all(address.toLowerCase(), kind ?? null, kind ?? null);
    return rows.map(toMail);
  } finally {
    db.close();
  }
}

/** The newest message queued for `address`, or undefined. */
export function latestMailTo(dataDir: string, address: string, kind?: string): CapturedMail | undefined {
  return mailsTo(dataDir, address, kind).at(-1);
}

/** The path (with query) of the first link of the newest mail of `kind` to `address`. */
export function linkPathFrom(dataDir: string, address: string, kind: string): string {
  const mail = latestMailTo(dataDir, address, kind);
  const link = mail?.links[0];
  if (!link) throw new Error(`no ${kind} mail with a link to ${address}`);
  const url = new URL(link);
  return `${url.pathname}${url.search}`;
}

/** The first absolute link in a message's text that goes to `pathname` of the app. */
export function linkIn(mail: Pick<CapturedMail, "text">, pathname: string): URL {
  for (const match of mail.text.matchAll(/https?:\/\/\S+/g)) {
    const url = new URL(match[0]);
    if (url.pathname === pathname) return url;
  }
  throw new Error(`no link to ${pathname} in:\n${mail.text}`);
}

// ---------------------------------------------------------------------------------------------
// The same on the server's database, whichever engine (for the suites run on PostgreSQL too).

type ServerDb = Pick<RunningServer, "dataDir" | "databaseUrl">;

/** mailsTo on the server's database (SQLite or PostgreSQL). */
export async function mailsToOn(server: ServerDb, address: string, kind?: string): Promise<CapturedMail[]> {
  const columns = "select id, subject, text_body, html_body, kind from mail_queue where to_address = ?";
  const rows = await withServerSql(server, (sql) =>
    kind === undefined ? sql.all<Row>(`${columns} order by id`, [address.toLowerCase()]) : sql.all<Row>(`${columns} and kind = ? order by id`, [address.toLowerCase(), kind]),
  );
  return rows.map(toMail);
}

/** latestMailTo on the server's database. */
export async function latestMailToOn(server: ServerDb, address: string, kind?: string): Promise<CapturedMail | undefined> {
  return (await mailsToOn(server, address, kind)).at(-1);
}

/** linkPathFrom on the server's database. */
export async function linkPathFromOn(server: ServerDb, address: string, kind: string): Promise<string> {
  const link = (await latestMailToOn(server, address, kind))?.links[0];
  if (!link) throw new Error(`no ${kind} mail with a link to ${address}`);
  const url = new URL(link);
  return `${url.pathname}${url.search}`;
}
