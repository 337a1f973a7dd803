import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeDatabase, openDatabase, type AppDb } from "../../db/client.server";
import { appLink, renderMail } from "../../app/services/mail/mail-layout.server";
import { enqueueMailOnSqlite } from "../../app/services/mail/mail-queue.server";
import { startMailSender } from "../../app/services/mail/mail-sender.server";
import { createMailTransport } from "../../app/services/mail/mail-transport.server";
import { freePort, HttpClient, ROOT, startServer, type RunningServer } from "../support/server";
import { startSmtpServer, type TestSmtpServer } from "../support/smtp-server";

// Delivery by the BUILT server to a real SMTP server (smtp-server, AUTH + STARTTLS with a
// certificate made here and trusted through NODE_EXTRA_CA_CERTS). Messages are queued straight
// into the server's database file (WAL), as the account flows do inside their transactions.

const ADMIN = "mail-admin@example.com";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function queue(db: AppDb, appUrl: string, to: string, subject: string): number {
  const mail = renderMail({
    subject,
    paragraphs: ["Open the link to continue."],
    action: { label: "Continue", url: appLink(appUrl, "/verify-email?token=t0k3n") },
  });
  return enqueueMailOnSqlite(db, to, "verify_email", mail);
}

type Row = { status: string; attempts: number; last_error: string | null; message_id: string | null };
const rowOf = (db: AppDb, id: number) => db.sqlite.prepare("select * from mail_queue where id = ?").get(id) as Row;

async function until<T>(what: string, fn: () => T | undefined | false, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

function mailEnv(smtp: TestSmtpServer, extra: Record<string, string> = {}): Record<string, string> {
  return {
    SMTP_URL: smtp.url,
    MAIL_OUTBOX: "",
    MAIL_FROM: "Credits Studio <no-reply@credits.example.test>",
    MAIL_SEND_INTERVAL: "100ms",
    MAIL_SEND_TIMEOUT: "1s",
    MAIL_RETRY_SCHEDULE: "300ms,300ms,300ms",
    ADMIN_EMAILS: ADMIN,
    NODE_EXTRA_CA_CERTS: smtp.certFile ?? "",
    ...extra,
  };
}

describe("delivery by the running server", () => {
  let smtp: TestSmtpServer;
  let server: RunningServer;
  let db: AppDb;
  beforeAll(async () => {
    smtp = await startSmtpServer({ auth: { user: "mailer", pass: "s3cret-smtp-pass" }, starttls: true });
    server = await startServer(mailEnv(smtp));
    db = openDatabase(path.join(server.dataDir, "app.sqlite"));
  });
  afterAll(async () => {
    if (db) closeDatabase(db);
    await server?.stop();
    await smtp?.close();
  });

  it("delivers a queued message over STARTTLS + AUTH with both parts and links under APP_URL", async () => {
    const id = queue(db, server.url, "first@example.com", "Confirm your address");
    const mail = await smtp.waitForMail({ to: "first@example.com", subject: "Confirm your address" });
    expect(mail.user).toBe("mailer");
    expect(mail.parsed.from?.text).toBe('"Credits Studio" <no-reply@credits.example.test>');
    expect(mail.parsed.text).toContain(`Continue: ${server.url}/verify-email?token=t0k3n`);
    expect(mail.parsed.html).toContain(`href="${server.url}/verify-email?token=t0k3n"`);
    const links = [...String(mail.parsed.html).matchAll(/href="([^"]+)"/g)].map((m) => m[1]!);
    expect(links.length).toBeGreaterThan(0);
    for (const link of links) expect(link.startsWith(`${server.url}/`)).toBe(true);
    const row = await until("sent", () => (rowOf(db, id).status === "sent" ? rowOf(db, id) : undefined));
    expect(row.message_id).toBe(mail.parsed.messageId);
    expect(server.output()).not.toContain("s3cret-smtp-pass");
  });

  it("loses nothing in an outage: retried with backoff, delivered once when the server is back", async () => {
    smtp.setMode("refuse");
    try {
      const id = queue(db, server.url, "outage@example.com", "During an outage");
      const row = await until("two failed attempts", () => (rowOf(db, id).attempts >= 2 ? rowOf(db, id) : undefined));
      expect(row.status).toBe("pending");
      expect(row.last_error).toMatch(/451/);
      smtp.setMode("accept");
      await smtp.waitForMail({ to: "outage@example.com" });
      await until("sent", () => rowOf(db, id).status === "sent");
      await sleep(500);
      expect(smtp.mailsTo("outage@example.com")).toHaveLength(1);
    } finally {
      smtp.setMode("accept");
    }
  });

  it("marks a message failed after the last attempt; an admin sees it on /admin/mail and retries it", async () => {
    smtp.setMode("refuse");
    const id = queue(db, server.url, "failing@example.com", "Doomed at first");
    try {
      await until("failed", () => rowOf(db, id).status === "failed");
    } finally {
      smtp.setMode("accept");
    }
    expect(rowOf(db, id).attempts).toBe(4);

    const stranger = new HttpClient(server.url);
    expect((await stranger.get("/admin/mail")).status).toBe(303);
    expect((await stranger.post("/admin/mail", { intent: "retry", mailId: String(id) })).status).toBe(303);
    const user = new HttpClient(server.url);
    await user.signup("not-admin@example.com");
    expect((await user.get("/admin/mail")).status).toBe(403);
    expect((await user.post("/admin/mail", { intent: "retry", mailId: String(id) })).status).toBe(403);
    expect(rowOf(db, id).status).toBe("failed");

    const admin = new HttpClient(server.url);
    await admin.signup(ADMIN);
    const page = await (await admin.get("/admin/mail")).text();
    expect(page).toContain("failing@example.com");
    expect(page).toContain("Doomed at first");
    expect(page).toMatch(/451/);
    expect(page).toContain('href="/admin/mail"');

    for (const bad of ["", "0", "-1", "1.5", "abc", "1e3", String(Number.MAX_SAFE_INTEGER + 2), "99999999"]) {
      const res = await admin.post("/admin/mail", { intent: "retry", mailId: bad });
      expect([400, 404], `mailId=${bad}`).toContain(res.status);
    }
    const sentId = queue(db, server.url, "already@example.com", "Already sent");
    await until("sent", () => rowOf(db, sentId).status === "sent");
    expect((await admin.post("/admin/mail", { intent: "retry", mailId: String(sentId) })).status).toBe(409);
    expect(rowOf(db, id).status).toBe("failed");
    expect(smtp.mailsTo("failing@example.com")).toHaveLength(0);

    const retried = await admin.post("/admin/mail", { intent: "retry", mailId: String(id) });
    expect(retried.status).toBe(303);
    expect(retried.headers.get("location")).toBe("/admin/mail");
    await smtp.waitForMail({ to: "failing@example.com", subject: "Doomed at first" });
    await until("sent", () => rowOf(db, id).status === "sent");
    const audit = db.sqlite.prepare("select a.action, a.details, u.email from audit_log a join users u on u.id = a.actor_id where action = 'mail.retry'").all() as { action: string; details: string; email: string }[];
    expect(audit).toHaveLength(1);
    expect(audit[0]!.email).toBe(ADMIN);
    expect(JSON.parse(audit[0]!.details)).toMatchObject({ mailId: id, to: "failing@example.com", failedAttempts: 4 });
    // The same form again: the row is no longer failed, nothing is queued twice.
    expect((await admin.post("/admin/mail", { intent: "retry", mailId: String(id) })).status).toBe(409);
    await sleep(400);
    expect(smtp.mailsTo("failing@example.com")).toHaveLength(1);
    expect(await (await admin.get("/admin/credits/audit")).text()).toContain("Mail retried");
  });

  it("has no /dev/outbox when mail goes to SMTP", async () => {
    const admin = new HttpClient(server.url);
    await admin.post("/login", { email: ADMIN, password: "password123" });
    expect((await admin.get("/dev/outbox")).status).toBe(404);
  });
});

describe("two senders racing", () => {
  it("delivers 50 messages once each while a second sender (another process) races the server's", async () => {
    const smtp = await startSmtpServer({ auth: { user: "mailer", pass: "race-pass" } });
    const server = await startServer(mailEnv(smtp, { MAIL_SEND_INTERVAL: "50ms" }));
    const db = openDatabase(path.join(server.dataDir, "app.sqlite"));
    const other = startMailSender(db, {
      // Another From, to tell which loop sent what.
      transport: createMailTransport({ transport: "smtp", smtpUrl: smtp.url, from: "Racer <racer@example.com>" }, { timeoutMs: 1000 }),
      retrySchedule: [300],
      intervalMs: 50,
      sendTimeoutMs: 1000,
    });
    try {
      const ids = db.sqlite.transaction(() => Array.from({ length: 50 }, (_, i) => queue(db, server.url, `bulk${i}@example.com`, `Bulk ${i}`)))();
      await until("50 sent", () => ids.every((id) => rowOf(db, id).status === "sent"), 30_000);
      await other.stop();
      await sleep(300);
      for (let i = 0; i < 50; i++) expect(smtp.mailsTo(`bulk${i}@example.com`), `bulk${i}`).toHaveLength(1);
      expect(smtp.mails).toHaveLength(50);
      // Both loops took part (otherwise this would prove nothing about racing).
      const byRacer = smtp.mails.filter((m) => m.envelopeFrom === "racer@example.com").length;
      expect(byRacer).toBeGreaterThan(0);
      expect(byRacer).toBeLessThan(50);
      expect(ids.every((id) => rowOf(db, id).attempts === 1)).toBe(true);
    } finally {
      await other.stop();
      closeDatabase(db);
      await server.stop();
      await smtp.close();
    }
  });
});

describe("crashes", () => {
  it("delivers exactly once after kill -9 between queueing and sending, and after kill -9 mid-send", async () => {
    const smtp = await startSmtpServer();
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "credits-mail-crash-"));
    // A sender that only looks once an hour: the message is queued, then the process dies.
    let server = await startServer(mailEnv(smtp, { MAIL_SEND_INTERVAL: "1h" }), { dataDir });
    const db = openDatabase(path.join(dataDir, "app.sqlite"));
    try {
      const queued = queue(db, server.url, "queued@example.com", "Queued then crash");
      await server.stop("SIGKILL");
      expect(rowOf(db, queued)).toMatchObject({ status: "pending", attempts: 0 });

      server = await startServer(mailEnv(smtp), { dataDir });
      await smtp.waitForMail({ to: "queued@example.com" });

      // Mid-send: the SMTP server takes the data and never answers; the process dies waiting.
      smtp.setMode("hang");
      const midSend = queue(db, server.url, "midsend@example.com", "Crash mid-send");
      await until("claimed", () => rowOf(db, midSend).attempts === 1);
      await sleep(100);
      await server.stop("SIGKILL");
      smtp.setMode("accept");
      expect(rowOf(db, midSend).status).toBe("pending");

      server = await startServer(mailEnv(smtp), { dataDir });
      await smtp.waitForMail({ to: "midsend@example.com" });
      await until("sent", () => rowOf(db, midSend).status === "sent");
      await sleep(500);
      expect(smtp.mailsTo("queued@example.com")).toHaveLength(1);
      expect(smtp.mailsTo("midsend@example.com")).toHaveLength(1);
      expect(rowOf(db, queued).status).toBe("sent");
    } finally {
      closeDatabase(db);
      await server.stop();
      await smtp.close();
    }
  });
});

describe("without SMTP", () => {
  it("writes .eml files to $DATA_DIR/outbox in development, and /dev/outbox lists and shows them", async () => {
    const server = await startServer({ NODE_ENV: "development", MAIL_OUTBOX: "", MAIL_SEND_INTERVAL: "100ms" });
    const db = openDatabase(path.join(server.dataDir, "app.sqlite"));
    try {
      const id = queue(db, server.url, "dev@example.com", "Confirm your address (dev)");
      const outbox = path.join(server.dataDir, "outbox");
      const file = await until("the .eml", () => fs.existsSync(outbox) && fs.readdirSync(outbox).find((f) => f.endsWith(".eml")));
      const eml = fs.readFileSync(path.join(outbox, file), "utf8");
      expect(eml).toMatch(/^To: dev@example\.com\r$/m);
      expect(eml).toMatch(/text\/plain/);
      expect(eml).toMatch(/text\/html/);
      await until("sent", () => rowOf(db, id).status === "sent");
      queue(db, server.url, "dev2@example.com", "A second message");
      await until("two files", () => fs.readdirSync(outbox).filter((f) => f.endsWith(".eml")).length === 2);

      const visitor = new HttpClient(server.url);
      const list = await (await visitor.get("/dev/outbox")).text();
      expect(list.indexOf("A second message")).toBeGreaterThan(-1);
      expect(list.indexOf("A second message")).toBeLessThan(list.indexOf("Confirm your address (dev)")); // newest first
      expect(list).toContain("dev@example.com");
      expect(list).toContain(`href="/dev/outbox/${file}"`);
      const shown = await (await visitor.get(`/dev/outbox/${file}`)).text();
      expect(shown).toContain(`<a href="${server.url}/verify-email?token=t0k3n"`);
      expect(shown).toContain("Confirm your address (dev)");
      for (const bad of ["..%2Fapp.sqlite", "mail-1.eml.tmp", "app.sqlite", "mail-999999.eml", "%2e%2e%2f%2e%2e%2fetc%2fpasswd", "mail-1.eml%00"]) {
        expect((await visitor.get(`/dev/outbox/${bad}`)).status, bad).toBe(404);
      }
    } finally {
      closeDatabase(db);
      await server.stop();
    }
  });

  it("refuses to start in production with one line naming SMTP_URL and MAIL_OUTBOX", async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "credits-mail-refuse-"));
    const child = spawn(process.execPath, ["server.js"], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, NODE_ENV: "production", SESSION_SECRET: "s".repeat(40), STRIPE_EMULATOR: "on", DATA_DIR: dataDir, PORT: String(await freePort()), HOST: "127.0.0.1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
    expect(code, out).toBe(78);
    expect(out).not.toMatch(/listening/);
    const lines = out.split("\n").filter((l) => /SMTP_URL/.test(l));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/SMTP_URL is required in production.*MAIL_OUTBOX=on/);
  });

  it("starts in production with MAIL_OUTBOX=on, and /dev/outbox is for admins only", async () => {
    const server = await startServer({ MAIL_OUTBOX: "on", ADMIN_EMAILS: ADMIN, MAIL_SEND_INTERVAL: "100ms" });
    const db = openDatabase(path.join(server.dataDir, "app.sqlite"));
    try {
      queue(db, server.url, "prod-outbox@example.com", "Production outbox");
      const outbox = path.join(server.dataDir, "outbox");
      const file = await until("the .eml", () => fs.existsSync(outbox) && fs.readdirSync(outbox).find((f) => f.endsWith(".eml")));
      const stranger = new HttpClient(server.url);
      expect((await stranger.get("/dev/outbox")).status).toBe(303);
      expect((await stranger.get(`/dev/outbox/${file}`)).status).toBe(303);
      const user = new HttpClient(server.url);
      await user.signup("prod-user@example.com");
      expect((await user.get("/dev/outbox")).status).toBe(403);
      expect((await user.get(`/dev/outbox/${file}`)).status).toBe(403);
      const admin = new HttpClient(server.url);
      await admin.signup(ADMIN);
      expect(await (await admin.get("/dev/outbox")).text()).toContain("Production outbox");
      expect((await admin.get(`/dev/outbox/${file}`)).status).toBe(200);
    } finally {
      closeDatabase(db);
      await server.stop();
    }
  });
});
