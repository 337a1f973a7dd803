import path from "node:path";
import { openDatabase } from "../../db/client.server";
import type { QueuedMail } from "../../db/schema";

type Row = Pick<QueuedMail, "id" | "toAddress" | "kind" | "subject" | "textBody" | "htmlBody" | "status" | "createdAt">;

const COLUMNS = "id, to_address AS toAddress, kind, subject, text_body AS textBody, html_body AS htmlBody, status, created_at AS createdAt";

/** Every message queued to `address` (oldest first), read from the server's own database file. */
export function mailsTo(dataDir: string, address: string, kind?: string): Row[] {
  const db = openDatabase(path.join(dataDir, "app.sqlite"), { readonly: true });
  try {
    const rows = kind
      ? db.sqlite.prepare(`SELECT ${COLUMNS} FROM mail_queue WHERE to_address = ? AND kind = ? ORDER BY id`).all(address, kind)
      : db.sqlite.prepare(`SELECT ${COLUMNS} FROM mail_queue WHERE to_address = ? ORDER BY id`).all(address);
    return rows as Row[];
  } finally {
    db.sqlite.close();
  }
}

/** The newest message queued to `address` (of `kind`, if given), or undefined. */
export function latestMailTo(dataDir: string, address: string, kind?: string): Row | undefined {
  return mailsTo(dataDir, address, kind).at(-1);
}

/** The first absolute link in a message's text that goes to `pathname` of the app. */
export function linkIn(mail: Pick<Row, "textBody">, pathname: string): URL {
  for (const match of mail.textBody.matchAll(/https?:\/\/\S+/g)) {
    const url = new URL(match[0]);
    if (url.pathname === pathname) return url;
  }
  throw new Error(`no link to ${pathname} in:\n${mail.textBody}`);
}
