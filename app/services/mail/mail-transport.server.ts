/**
 * Where a queued message goes: an SMTP server (SMTP_URL, STARTTLS when the server offers it) or,
 * without one outside production, the local outbox folder ($DATA_DIR/outbox, one RFC 822 .eml
 * file per message, both parts). Both are built by nodemailer, so the outbox holds exactly the
 * bytes SMTP would have carried.
 */
import fs from "node:fs";
import path from "node:path";
import type { Transporter } from "nodemailer";
import type { Config } from "../env.server";

export type OutgoingMail = { id: number; createdAt: number; to: string; subject: string; text: string; html: string };

export type MailTransport = {
  kind: "smtp" | "outbox";
  /** Resolves with the message id once the server (or the file) has the message; rejects otherwise. */
  send(mail: OutgoingMail): Promise<{ messageId: string }>;
  /** Loads what sending needs (nodemailer, on first use). The sender awaits it before it claims a
   * message, so a slow first load never runs down a claimed message's lease. */
  ready?(): Promise<void>;
  close(): void;
};

export type TransportOptions = { timeoutMs: number };

/** The same Message-ID on every attempt of one row: a receiver that saw it once may drop a repeat. */
function messageIdOf(mail: OutgoingMail, from: string): string {
  const domain = /@([^>\s]+)>?\s*$/.exec(from)?.[1] ?? "localhost";
  return `<mail-${mail.id}.${mail.createdAt}@${domain}>`;
}

function smtpOptions(smtpUrl: string, timeoutMs: number) {
  const url = new URL(smtpUrl);
  const secure = url.protocol === "smtps:";
  return {
    host: url.hostname,
    port: url.port ? Number(url.port) : secure ? 465 : 587,
    secure,
    auth: url.username ? { user: decodeURIComponent(url.username), pass: decodeURIComponent(url.password) } : undefined,
    // A third of the budget each for connecting, the greeting and any silence after: the whole
    // exchange stays within MAIL_SEND_TIMEOUT, the time a claimed row is reserved for.
    connectionTimeout: Math.ceil(timeoutMs / 3),
    greetingTimeout: Math.ceil(timeoutMs / 3),
    socketTimeout: Math.ceil(timeoutMs / 3),
    logger: false,
    debug: false,
  };
}

/** Removes the SMTP password (raw and URL-encoded) from an error text before it is stored or logged. */
export function redactSmtpSecret(text: string, smtpUrl: string | undefined): string {
  if (!smtpUrl) return text;
  let password = "";
  try {
    password = new URL(smtpUrl).password;
  } catch {
    return text;
  }
  if (!password) return text;
  let out = text;
  for (const secret of new Set([password, decodeURIComponent(password)])) out = out.split(secret).join("[redacted]");
  return out;
}

/** The message as nodemailer takes it: both parts, and the same Message-ID on every attempt. */
function envelopeOf(m: Parameters<MailTransport["send"]>[0], from: string) {
  return { from, to: m.to, subject: m.subject, text: m.text, html: m.html, messageId: messageIdOf(m, from), date: new Date() };
}

// nodemailer (40 modules) is loaded when the first message is sent, not at start-up: most
// processes start with an empty queue, and the first request must not wait for it (decision 039).
function lazyTransporter(options: Parameters<typeof import("nodemailer").createTransport>[0]) {
  let made: Promise<Transporter> | undefined;
  let transporter: Transporter | undefined;
  return {
    get: () => (made ??= import("nodemailer").then((m) => (transporter = m.default.createTransport(options)))),
    close: () => transporter?.close(),
  };
}

export function createMailTransport(mail: Config["mail"], options: TransportOptions): MailTransport {
  if (mail.transport === "smtp") {
    const transporter = lazyTransporter(smtpOptions(mail.smtpUrl, options.timeoutMs));
    return {
      kind: "smtp",
      async send(m) {
        const info = await (await transporter.get()).sendMail(envelopeOf(m, mail.from));
        return { messageId: info.messageId };
      },
      ready: async () => {
        await transporter.get();
      },
      close: () => transporter.close(),
    };
  }
  const composer = lazyTransporter({ streamTransport: true, buffer: true, newline: "windows" });
  return {
    kind: "outbox",
    async send(m) {
      const info = await (await composer.get()).sendMail(envelopeOf(m, mail.from));
      fs.mkdirSync(mail.dir, { recursive: true });
      // Named after the queue row: a retry after a crash rewrites the same file, never a second one.
      const file = path.join(mail.dir, outboxFileName(m.id));
      const tmp = `${file}.tmp`;
      fs.writeFileSync(tmp, info.message as Buffer);
      fs.renameSync(tmp, file);
      return { messageId: info.messageId };
    },
    ready: async () => {
      await composer.get();
    },
    close: () => composer.close(),
  };
}

/** mail-000042.eml: sorts by queue order, and names nothing but the row. */
export function outboxFileName(id: number): string {
  return `mail-${String(id).padStart(6, "0")}.eml`;
}
