import fs from "node:fs";
import path from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { closeDatabase, openDatabase, type AppDb } from "#db/client.server";
import { createTestDb } from "../../../tests/support/db";
import { startSmtpServer, type TestSmtpServer } from "../../../tests/support/smtp-server";
import { appLink, renderMail } from "./mail-layout.server";
import { enqueueMail } from "./mail-queue.server";
import { claimNextMail, recordFailure, retryDelayAfter, startMailSender, type MailSender } from "./mail-sender.server";
import { createMailTransport, outboxFileName, redactSmtpSecret } from "./mail-transport.server";

// The sender against a real SMTP server (smtp-server on loopback), on a real SQLite file.

const APP_URL = "https://credits.example.test";
const FROM = "Credits Studio <no-reply@credits.example.test>";
const FAST = [40, 40, 40];

let smtp: TestSmtpServer;
let db: ReturnType<typeof createTestDb>;
const senders: MailSender[] = [];

beforeAll(async () => {
  smtp = await startSmtpServer({ auth: { user: "mailer", pass: "p@ss:w0rd/secret" } });
});
afterAll(async () => {
  await smtp?.close();
});
beforeEach(() => {
  db = createTestDb();
  smtp.mails.length = 0;
  smtp.setMode("accept");
});
afterEach(async () => {
  await Promise.all(senders.splice(0).map((s) => s.stop()));
  db.remove();
});

function queue(to: string, subject = "Confirm your address", target: AppDb = db): Promise<number> {
  const mail = renderMail({
    subject,
    paragraphs: ["Someone (hopefully you) signed up with this address."],
    action: { label: "Confirm my address", url: appLink(APP_URL, "/verify-email?token=abc&x=1") },
    footer: "If this was not you, ignore this message.",
  });
  return enqueueMail(target, to, "verify_email", mail);
}

function sender(target: AppDb = db, opts: { retrySchedule?: number[]; smtpUrl?: string; onSent?: () => void } = {}): MailSender {
  const s = startMailSender(target, {
    transport: createMailTransport({ transport: "smtp", smtpUrl: opts.smtpUrl ?? smtp.url, from: FROM }, { timeoutMs: 3000 }),
    retrySchedule: opts.retrySchedule ?? FAST,
    // Long: the tests drive the sender with sendNow(); the start-up tick finds an empty queue.
    intervalMs: 3_600_000,
    sendTimeoutMs: 3000,
    redact: (t) => redactSmtpSecret(t, opts.smtpUrl ?? smtp.url),
    ...(opts.onSent ? { log: { info: () => opts.onSent!(), warn: () => undefined, error: () => undefined } } : {}),
  });
  senders.push(s);
  return s;
}

type Row = { status: string; attempts: number; last_error: string | null; message_id: string | null; next_attempt_at: number; sent_at: number | null };
const rowOf = (id: number, target: AppDb = db) => target.sqlite.prepare("select * from mail_queue where id = ?").get(id) as Row;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("mail sender over SMTP", () => {
  it("delivers a queued message with both parts, From/To/Subject and absolute links, and marks it sent", async () => {
    const s = sender();
    const id = await queue("ada@example.com");
    expect(await s.sendNow()).toEqual({ sent: 1, retrying: 0, failed: 0 });
    const mail = await smtp.waitForMail({ to: "ada@example.com", subject: "Confirm your address" });
    expect(mail.user).toBe("mailer"); // authenticated with the URL's (percent-encoded) credentials
    expect(mail.parsed.from?.text).toBe('"Credits Studio" <no-reply@credits.example.test>');
    expect(mail.parsed.to && !Array.isArray(mail.parsed.to) ? mail.parsed.to.text : "").toBe("ada@example.com");
    expect(mail.parsed.text).toContain("Confirm my address: https://credits.example.test/verify-email?token=abc&x=1");
    expect(mail.parsed.html).toContain('href="https://credits.example.test/verify-email?token=abc&amp;x=1"');
    expect(mail.raw).toMatch(/Content-Type: multipart\/alternative/i);
    const row = rowOf(id);
    expect(row).toMatchObject({ status: "sent", attempts: 1, last_error: null });
    expect(row.message_id).toBe(mail.parsed.messageId);
    expect(row.sent_at).toBeGreaterThan(0);
    expect(await s.sendNow()).toEqual({ sent: 0, retrying: 0, failed: 0 });
    expect(smtp.mailsTo("ada@example.com")).toHaveLength(1);
  });

  it("sends only due messages", async () => {
    const s = sender();
    const later = await queue("later@example.com");
    db.sqlite.prepare("update mail_queue set next_attempt_at = ? where id = ?").run(Date.now() + 60_000, later);
    expect((await s.sendNow()).sent).toBe(0);
    expect(rowOf(later)).toMatchObject({ status: "pending", attempts: 0 });
  });

  it("keeps a message through an outage: retried with backoff, delivered once the server is back", async () => {
    const s = sender(db, { retrySchedule: [150, 300, 600, 600, 600] });
    smtp.setMode("refuse");
    const id = await queue("outage@example.com");
    const before = Date.now();
    expect(await s.sendNow()).toEqual({ sent: 0, retrying: 1, failed: 0 });
    let row = rowOf(id);
    expect(row).toMatchObject({ status: "pending", attempts: 1 });
    expect(row.last_error).toMatch(/451/);
    expect(row.next_attempt_at).toBeGreaterThanOrEqual(before + 150);
    expect((await s.sendNow()).retrying).toBe(0); // not due yet: backoff
    await sleep(200);
    expect(await s.sendNow()).toEqual({ sent: 0, retrying: 1, failed: 0 });
    row = rowOf(id);
    expect(row.attempts).toBe(2);
    expect(row.next_attempt_at - Date.now()).toBeGreaterThan(150); // the second delay is longer
    smtp.setMode("accept");
    await sleep(350);
    expect((await s.sendNow()).sent).toBe(1);
    expect(smtp.mailsTo("outage@example.com")).toHaveLength(1);
    expect(rowOf(id)).toMatchObject({ status: "sent", attempts: 3, last_error: null });
  });

  it("marks a message failed after the last attempt, and never sends it again", async () => {
    const s = sender(db, { retrySchedule: [10, 10] });
    smtp.setMode("refuse");
    const id = await queue("never@example.com");
    const outcomes = [];
    for (let i = 0; i < 3; i++) {
      outcomes.push(await s.sendNow());
      await sleep(30);
    }
    expect(outcomes.map((o) => o.failed)).toEqual([0, 0, 1]);
    expect(rowOf(id)).toMatchObject({ status: "failed", attempts: 3 });
    smtp.setMode("accept");
    await sleep(30);
    expect((await s.sendNow()).sent).toBe(0);
    expect(smtp.mailsTo("never@example.com")).toHaveLength(0);
  });

  it("delivers 50 messages exactly once with two senders on two connections racing", async () => {
    const ids = await Promise.all(Array.from({ length: 50 }, (_, i) => queue(`race${i}@example.com`, `Race ${i}`)));
    const other = openDatabase(db.sqlite.name);
    try {
      // Each sender's passes run one after another (its start-up tick first), so who sent what is
      // counted from their logs: both must have sent (they did race), each message once.
      const sentBy = { a: 0, b: 0 };
      const a = sender(db, { onSent: () => sentBy.a++ });
      const b = sender(other, { onSent: () => sentBy.b++ });
      const reports = await Promise.all([a.sendNow(), b.sendNow(), a.sendNow(), b.sendNow()]);
      // stop() waits for every loop still running, the start-up ticks included.
      await Promise.all([a.stop(), b.stop()]);
      expect(reports.every((r) => r.retrying === 0 && r.failed === 0)).toBe(true);
      expect(sentBy.a).toBeGreaterThan(0); // they did race
      expect(sentBy.b).toBeGreaterThan(0);
      expect(sentBy.a + sentBy.b).toBe(50);
      for (let i = 0; i < 50; i++) expect(smtp.mailsTo(`race${i}@example.com`), `race${i}`).toHaveLength(1);
      expect(smtp.mails).toHaveLength(50);
      expect(ids.every((id) => rowOf(id).status === "sent" && rowOf(id).attempts === 1)).toBe(true);
    } finally {
      await Promise.all(senders.splice(0).map((s) => s.stop()));
      closeDatabase(other);
    }
  });

  it("never stores or logs the SMTP password, even when the server names it in an error", async () => {
    const url = smtp.url.replace("w0rd", "WRONG");
    const logged: string[] = [];
    const s = startMailSender(db, {
      transport: createMailTransport({ transport: "smtp", smtpUrl: url, from: FROM }, { timeoutMs: 3000 }),
      retrySchedule: FAST,
      intervalMs: 3_600_000,
      sendTimeoutMs: 3000,
      redact: (t) => redactSmtpSecret(t, url),
      log: { info: (o) => logged.push(JSON.stringify(o)), warn: (o) => logged.push(JSON.stringify(o)), error: (o) => logged.push(JSON.stringify(o)) },
    });
    senders.push(s);
    const id = await queue("auth@example.com");
    expect((await s.sendNow()).retrying).toBe(1);
    expect(rowOf(id).last_error).toMatch(/535|Invalid/);
    const password = decodeURIComponent(new URL(url).password);
    expect(JSON.stringify(rowOf(id)) + logged.join("\n")).not.toContain(password);
    expect(redactSmtpSecret(`535 bad password ${password} / ${new URL(url).password}`, url)).toBe("535 bad password [redacted] / [redacted]");
  });
});

describe("claiming", () => {
  it("hands a row to one loop at a time, and again after the lease when that loop died", async () => {
    const id = await queue("claim@example.com");
    const now = Date.now();
    const first = await claimNextMail(db, now, 1000);
    expect(first).toMatchObject({ id, attempts: 1 });
    expect(await claimNextMail(db, now, 1000)).toBeNull();
    expect(await claimNextMail(db, now + 999, 1000)).toBeNull();
    // The first loop never reported (a crash mid-send): after the lease the row is due again.
    const second = await claimNextMail(db, now + 1000, 1000);
    expect(second).toMatchObject({ id, attempts: 2 });
    // The dead loop's late answer no longer applies to the row.
    expect(await recordFailure(db, first!, "late", now + 1001, FAST)).toBe("superseded");
    expect(rowOf(id)).toMatchObject({ attempts: 2, last_error: null });
  });

  it.each([
    [1, 40],
    [2, 40],
    [3, 40],
    [4, null],
    [0, null],
  ])("after attempt %i the next comes after %s ms", (attempts, delay) => {
    expect(retryDelayAfter(FAST, attempts)).toBe(delay);
  });

  it("schedules the next attempt from the default-like schedule (30 s, 2 min, 10 min, 1 h …)", async () => {
    const schedule = [30_000, 120_000, 600_000, 3_600_000];
    const id = await queue("schedule@example.com");
    let now = 1_000_000;
    db.sqlite.prepare("update mail_queue set next_attempt_at = ? where id = ?").run(now, id);
    const seen: number[] = [];
    for (let i = 0; i < 5; i++) {
      const row = (await claimNextMail(db, now, 5000))!;
      const outcome = await recordFailure(db, row, "451 try later", now, schedule);
      const next = rowOf(id).next_attempt_at;
      seen.push(outcome === "failed" ? -1 : next - now);
      now = next;
    }
    expect(seen).toEqual([30_000, 120_000, 600_000, 3_600_000, -1]);
    expect(rowOf(id)).toMatchObject({ status: "failed", attempts: 5 });
  });
});

describe("outbox transport", () => {
  it("writes one RFC 822 file per message with both parts, the same file on a retry", async () => {
    const dir = path.join(db.dir, "outbox");
    const s = startMailSender(db, {
      transport: createMailTransport({ transport: "outbox", dir, from: FROM }, { timeoutMs: 3000 }),
      retrySchedule: FAST,
      intervalMs: 3_600_000,
      sendTimeoutMs: 3000,
    });
    senders.push(s);
    const id = await queue("outbox@example.com");
    expect((await s.sendNow()).sent).toBe(1);
    const file = path.join(dir, outboxFileName(id));
    const eml = fs.readFileSync(file, "utf8");
    expect(eml).toMatch(/^To: outbox@example\.com\r$/m);
    expect(eml).toMatch(/^Subject: Confirm your address\r$/m);
    expect(eml).toMatch(/multipart\/alternative/);
    expect(eml).toMatch(/text\/plain/);
    expect(eml).toMatch(/text\/html/);
    db.sqlite.prepare("update mail_queue set status = 'pending', next_attempt_at = 0 where id = ?").run(id);
    expect((await s.sendNow()).sent).toBe(1);
    expect(fs.readdirSync(dir)).toEqual([outboxFileName(id)]);
  });
});
