/**
 * The one place tests read mail the app sent. Today: the app's mail_queue table in its SQLite
 * file (WAL: safe to read while the server runs). Switching to a real SMTP capture means changing
 * only this file.
 */
import path from "node:path";
import Database from "better-sqlite3";

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
