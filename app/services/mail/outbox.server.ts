/**
 * Reads the local outbox ($DATA_DIR/outbox, written by the outbox transport) for /dev/outbox: so
 * a development machine without SMTP can sign up, open the mail and follow its link.
 */
import fs from "node:fs";
import path from "node:path";
import type { AddressObject } from "mailparser";
import type { Config } from "../env.server";

const FILE = /^mail-\d{1,15}\.eml$/;
const LIST_LIMIT = 100;

export type OutboxEntry = { file: string; to: string; subject: string; date: number };
export type OutboxMessage = OutboxEntry & { from: string; text: string; links: string[] };

/** The outbox folder when mail goes there (MAIL_OUTBOX), else null: then /dev/outbox does not exist. */
export function outboxDirOf(config: Config): string | null {
  return config.mail.transport === "outbox" ? config.mail.dir : null;
}

function addresses(value: AddressObject | AddressObject[] | undefined): string {
  if (!value) return "";
  return (Array.isArray(value) ? value : [value]).map((a) => a.text).join(", ");
}

async function parse(dir: string, file: string) {
  // Loaded on the first look at the outbox (a development page), not at start-up: mailparser and
  // its HTML stack are some 60 modules that no production request needs (decision 039).
  const { simpleParser } = await import("mailparser");
  const parsed = await simpleParser(await fs.promises.readFile(path.join(dir, file)));
  return {
    file,
    to: addresses(parsed.to),
    from: addresses(parsed.from),
    subject: parsed.subject ?? "(no subject)",
    date: parsed.date?.getTime() ?? (await fs.promises.stat(path.join(dir, file))).mtimeMs,
    text: parsed.text ?? "",
    html: typeof parsed.html === "string" ? parsed.html : "",
  };
}

/** The newest messages first (by the time they were written). */
export async function listOutbox(dir: string): Promise<OutboxEntry[]> {
  let names: string[];
  try {
    names = (await fs.promises.readdir(dir)).filter((n) => FILE.test(n));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw error;
  }
  const stats = await Promise.all(names.map(async (n) => ({ n, t: (await fs.promises.stat(path.join(dir, n))).mtimeMs })));
  const newest = stats.sort((a, b) => b.t - a.t || b.n.localeCompare(a.n)).slice(0, LIST_LIMIT);
  const parsed = await Promise.all(newest.map(({ n }) => parse(dir, n)));
  return parsed.map(({ file, to, subject, date }) => ({ file, to, subject, date }));
}

/** Only http(s) links, from both parts, in order of appearance, each once. */
export function linksIn(text: string, html: string): string[] {
  const found = [
    ...[...html.matchAll(/href="([^"]+)"/g)].map((m) => m[1]!.replace(/&amp;/g, "&")),
    ...(text.match(/https?:\/\/[^\s<>"]+/g) ?? []),
  ];
  return [...new Set(found.filter((u) => /^https?:\/\//.test(u)))];
}

/** One message, or null for a name that is not an outbox file (no path can be read through it). */
export async function readOutboxMessage(dir: string, file: string): Promise<OutboxMessage | null> {
  if (!FILE.test(file)) return null;
  try {
    const m = await parse(dir, file);
    return { file: m.file, to: m.to, from: m.from, subject: m.subject, date: m.date, text: m.text, links: linksIn(m.text, m.html) };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw error;
  }
}
