import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase } from "../../db/client.server";
import { verifyLedger } from "../../app/services/money/ledger-verify.server";
import { HttpClient, startServer, type RunningServer } from "../support/server";
import { startSmtpServer, type ReceivedMail, type TestSmtpServer } from "../support/smtp-server";

// The account flows end to end with the mail going out over SMTP to a real SMTP server in the
// test (not the queue read back): sign-up → mail → confirm → bonus; a taken address; the admin
// bootstrap; password reset; an address change; deleting an account.

let smtp: TestSmtpServer;
let server: RunningServer;
let n = 0;
const ADMIN = "boss@smtp-flow.example";

beforeAll(async () => {
  smtp = await startSmtpServer({ auth: { user: "mailer", pass: "s3cret-pass" } });
  server = await startServer({
    SMTP_URL: smtp.url,
    MAIL_FROM: "Credits Studio <no-reply@smtp-flow.example>",
    MAIL_OUTBOX: "off",
    MAIL_SEND_INTERVAL: "200ms",
    ADMIN_EMAILS: ADMIN,
    SIGNUP_BONUS_CREDITS: "10",
  });
});
afterAll(async () => {
  await server?.stop();
  await smtp?.close();
});

const address = (tag: string) => `${tag}${++n}@smtp-flow.example`;
const balanceOf = async (c: HttpClient) => ((await (await c.get("/api/credits")).json()) as { balance: number }).balance;

/** The one link of a received message that goes to `pathname`, as a path with its query. */
function linkTo(mail: ReceivedMail, pathname: string): string {
  const text = mail.parsed.text ?? "";
  for (const m of text.matchAll(/https?:\/\/\S+/g)) {
    const url = new URL(m[0]);
    if (url.pathname === pathname) {
      expect(url.origin).toBe(server.url); // absolute, under APP_URL
      return `${url.pathname}${url.search}`;
    }
  }
  throw new Error(`no ${pathname} link in: ${text}`);
}

/** GET the page behind a link and press its one button (the token travels in a hidden field). */
async function pressButton(client: HttpClient, link: string, extra: Record<string, string> = {}) {
  const page = await client.get(link);
  expect(page.status).toBe(200);
  const html = await page.text();
  const token = /name="token" value="([^"]+)"/.exec(html)?.[1];
  expect(token).toBeTruthy();
  return client.post(link.split("?")[0], { token: token!, ...extra });
}

/** The first message to `to`, after the `seen` already received, with a link to `pathname`. */
async function nextMailTo(to: string, seen: number, pathname = "/verify-email"): Promise<ReceivedMail> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const found = smtp.mailsTo(to).slice(seen).find((m) => (m.parsed.text ?? "").includes(`${server.url}${pathname}`));
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`no new mail to ${to} with a ${pathname} link`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function signUpAndVerify(email: string, password = "password123") {
  const client = new HttpClient(server.url);
  const seen = smtp.mailsTo(email).length;
  expect((await client.post("/signup", { email, password })).status).toBe(303);
  const mail = await nextMailTo(email, seen);
  await client.login(email, password);
  const confirmed = await pressButton(client, linkTo(mail, "/verify-email"), { intent: "confirm" });
  expect([200, 303]).toContain(confirmed.status);
  return client;
}

describe("accounts with real mail", () => {
  it("sign-up → a mail with both parts and an absolute link → confirm → 10 credits, once", async () => {
    const email = address("new");
    const client = new HttpClient(server.url);
    expect((await client.post("/signup", { email, password: "password123" })).status).toBe(303);
    const mail = await smtp.waitForMail({ to: email }, 15_000);
    expect(mail.parsed.from?.text).toContain("no-reply@smtp-flow.example");
    expect(mail.parsed.text).toBeTruthy();
    expect(mail.parsed.html).toBeTruthy();
    expect(mail.user).toBe("mailer");
    await client.login(email, "password123");
    expect(await balanceOf(client)).toBe(0);
    const link = linkTo(mail, "/verify-email");
    await pressButton(client, link, { intent: "confirm" });
    expect(await balanceOf(client)).toBe(10);
    // The link works once.
    const again = await client.get(link);
    expect(await again.text()).not.toContain('name="token"');
    expect(await balanceOf(client)).toBe(10);
  });

  it("a taken address answers like a new one, and its owner is told by mail", async () => {
    const email = address("taken");
    await signUpAndVerify(email);
    const fresh = address("fresh");
    const stranger = new HttpClient(server.url);
    const onTaken = await stranger.post("/signup", { email, password: "another-pass-1" });
    const onFresh = await new HttpClient(server.url).post("/signup", { email: fresh, password: "another-pass-1" });
    expect(onTaken.status).toBe(onFresh.status);
    expect(onTaken.headers.get("location")).toBe(onFresh.headers.get("location"));
    expect(onTaken.headers.get("set-cookie")).toBeNull();
    const notice = await smtp.waitForMail({ to: email, subject: /sign up|signup|sign-up/i }, 15_000);
    expect(notice.parsed.text).toContain("/forgot-password");
  });

  it("an address in ADMIN_EMAILS gets the role only once it is verified", async () => {
    const client = new HttpClient(server.url);
    expect((await client.post("/signup", { email: ADMIN, password: "password123" })).status).toBe(303);
    const mail = await smtp.waitForMail({ to: ADMIN }, 15_000);
    await client.login(ADMIN, "password123");
    expect((await client.get("/admin/credits")).status).toBe(403);
    await pressButton(client, linkTo(mail, "/verify-email"), { intent: "confirm" });
    expect((await client.get("/admin/credits")).status).toBe(200);
  });

  it("password reset: old password refused, new one works, other sessions signed out, the link works once", async () => {
    const email = address("reset");
    const other = await signUpAndVerify(email, "old-password-1");
    const requester = new HttpClient(server.url);
    expect((await requester.post("/forgot-password", { email })).status).toBeLessThan(500);
    const mail = await smtp.waitForMail({ to: email, subject: /password/i }, 15_000);
    const link = linkTo(mail, "/reset-password");
    const page = await requester.get(link);
    const token = /name="token" value="([^"]+)"/.exec(await page.text())?.[1];
    expect(token).toBeTruthy();
    expect((await requester.post("/reset-password", { token: token!, password: "new-password-2" })).status).toBe(303);
    expect((await new HttpClient(server.url).post("/login", { email, password: "old-password-1" })).status).not.toBe(303);
    expect((await new HttpClient(server.url).post("/login", { email, password: "new-password-2" })).status).toBe(303);
    expect((await other.get("/api/credits")).status).toBe(401);
    expect((await requester.post("/reset-password", { token: token!, password: "third-password-3" })).status).not.toBe(303);
  });

  it("deleting an account keeps the ledger explainable and frees the address", async () => {
    const email = address("gone");
    const client = await signUpAndVerify(email);
    const page = await (await client.get("/settings/account")).text();
    expect(page).toContain(email);
    const res = await client.post("/settings/account", { intent: "delete-account", password: "password123", confirm: "DELETE" });
    expect([200, 303]).toContain(res.status);
    const db = openDatabase(path.join(server.dataDir, "app.sqlite"), { readonly: true });
    try {
      expect(verifyLedger(db, { sweepGraceMs: 60_000 }).violations).toEqual([]);
    } finally {
      db.sqlite.close();
    }
    const again = await signUpAndVerify(email);
    expect(await balanceOf(again)).toBe(10);
  });
});
