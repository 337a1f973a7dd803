import { afterAll, beforeAll, expect, it } from "vitest";
import { grant } from "../../app/services/money/ledger.server";
import { userIdByEmail, withServerDb } from "../support/accounts";
import { HttpClient, startServer, type RunningServer } from "../support/server";
import { startSmtpServer, type ReceivedMail, type TestSmtpServer } from "../support/smtp-server";

// The expiry warning against the built server, delivered over SMTP to a real SMTP server: a
// verified account whose sign-up bonus (60 credits, 3 days) expires within EXPIRY_WARNING_BEFORE
// receives the warning exactly once, also after a restart; an unverified account with credits
// due gets none; a grant added after the restart gets a mail of its own.

let smtp: TestSmtpServer;
let server: RunningServer;

const env = (smtpUrl: string) => ({
  SMTP_URL: smtpUrl,
  MAIL_FROM: "Credits Studio <no-reply@expiry.example>",
  MAIL_OUTBOX: "off",
  MAIL_SEND_INTERVAL: "200ms",
  SIGNUP_BONUS_CREDITS: "60",
  SIGNUP_BONUS_EXPIRES_AFTER: "3d",
  EXPIRY_WARNING_INTERVAL: "1s",
});

beforeAll(async () => {
  smtp = await startSmtpServer();
  server = await startServer(env(smtp.url));
});
afterAll(async () => {
  await server?.stop();
  await smtp?.close();
});

const SUBJECT = /of yours expires? soon$/;
const warningsTo = (to: string) => smtp.mailsTo(to).filter((m) => SUBJECT.test(m.parsed.subject ?? ""));

async function nextMailTo(to: string, match: (m: ReceivedMail) => boolean, seen = 0): Promise<ReceivedMail> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const found = smtp.mailsTo(to).slice(seen).find(match);
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`no matching mail to ${to}; got: ${smtp.mailsTo(to).map((m) => m.parsed.subject).join(" | ")}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

it("a sizeable expiry is warned about once over SMTP, across a restart; an unverified account gets nothing", { timeout: 90_000 }, async () => {
  const email = `saver-${Date.now()}@expiry.example`;
  const client = new HttpClient(server.url);
  await client.signup(email); // confirms the address through the link in the queued mail
  expect(((await (await client.get("/api/credits")).json()) as { balance: number }).balance).toBe(60);

  // Signed up, never verified, yet holding credits that expire in two days.
  const stranger = `unverified-${Date.now()}@expiry.example`;
  await new HttpClient(server.url).signupUnverified(stranger);
  const strangerId = userIdByEmail(server.dataDir, stranger)!;
  await withServerDb(server.dataDir, (db) =>
    grant(db, { userId: strangerId, amount: 100, type: "bonus", key: `test-grant:${strangerId}`, description: "test credits", expiresAt: Date.now() + 2 * 86_400_000 }),
  );

  const warning = await nextMailTo(email, (m) => SUBJECT.test(m.parsed.subject ?? ""));
  expect(warning.parsed.subject).toBe("60 credits of yours expire soon");
  const text = warning.parsed.text ?? "";
  expect(text).toMatch(/60 credits expire on \w+day \d{1,2} \w+ \d{4} at \d\d:\d\d UTC\./);
  expect(text).toContain(`${server.url}/pricing`);
  expect(text).toContain(`${server.url}/settings/billing`);
  expect(warning.parsed.html).toContain(`href="${server.url}/settings/billing"`);

  // Several more runs (one a second), then a restart on the same data: nothing is warned twice.
  await new Promise((r) => setTimeout(r, 3_000));
  const dataDir = server.dataDir;
  await server.stop();
  server = await startServer(env(smtp.url), { dataDir });
  await new Promise((r) => setTimeout(r, 3_000));
  expect(warningsTo(email)).toHaveLength(1);
  expect(warningsTo(stranger)).toHaveLength(0);

  // The restarted job does run: a new grant due soon gets its own mail, naming only itself.
  const userId = userIdByEmail(dataDir, email)!;
  await withServerDb(dataDir, (db) =>
    grant(db, { userId, amount: 75, type: "bonus", key: `test-grant:${userId}`, description: "test credits", expiresAt: Date.now() + 5 * 86_400_000 }),
  );
  const second = await nextMailTo(email, (m) => m.parsed.subject === "75 credits of yours expire soon");
  expect(second.parsed.text).not.toContain("60 credits");
  await new Promise((r) => setTimeout(r, 2_000));
  expect(warningsTo(email)).toHaveLength(2);
  expect(warningsTo(stranger)).toHaveLength(0);
});
