import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { grant } from "../../app/services/money/ledger.server";
import { userIdByEmail, withServerDb } from "../support/accounts";
import { HttpClient, startServer, type RunningServer } from "../support/server";
import { startSmtpServer, type TestSmtpServer } from "../support/smtp-server";
import { createKey, imageWithKey, withKey } from "./api-keys-support";
import { expectLedgerConsistent } from "./generation-support";

// Balance alerts against the built server, mailed over SMTP to a real SMTP server: twenty image
// generations crossing the threshold at once mail exactly once; credits arriving (a purchase, by
// the ledger, with no page loaded) re-arm it and the next fall mails again; the banner shows while
// below and hides once above; hostile thresholds, by form and by JSON, change nothing.

let smtp: TestSmtpServer;
let server: RunningServer;

const env = (smtpUrl: string) => ({
  SMTP_URL: smtpUrl,
  MAIL_FROM: "Credits Studio <no-reply@alerts.example>",
  MAIL_OUTBOX: "off",
  MAIL_SEND_INTERVAL: "200ms",
  SIGNUP_BONUS_CREDITS: "100",
  IMAGE_COST: "5",
  RATE_LIMIT_DISABLED: "1",
});

beforeAll(async () => {
  smtp = await startSmtpServer();
  server = await startServer(env(smtp.url));
});
afterAll(async () => {
  await server?.stop();
  await smtp?.close();
});

const SUBJECT = "Your balance is below 50 credits";
const alertsTo = (to: string) => smtp.mailsTo(to).filter((m) => m.parsed.subject === SUBJECT);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitForAlerts(to: string, count: number): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (alertsTo(to).length < count) {
    if (Date.now() > deadline) throw new Error(`expected ${count} alert mails to ${to}, got ${alertsTo(to).length}`);
    await sleep(50);
  }
  // Long enough for a second mail, if one had been queued, to be delivered (sent every 200 ms).
  await sleep(1_500);
}

let n = 0;
async function signedUp(tag: string): Promise<{ client: HttpClient; email: string; userId: number }> {
  const email = `${tag}-${Date.now()}-${++n}@alerts.example`;
  const client = new HttpClient(server.url);
  await client.signup(email);
  return { client, email, userId: userIdByEmail(server.dataDir, email)! };
}

const putAlert = (client: HttpClient, body: unknown) =>
  client.request("/api/balance-alert", { method: "PUT", headers: { "Content-Type": "application/json" }, body: typeof body === "string" ? body : JSON.stringify(body) });
const alertOf = async (client: HttpClient) => (await (await client.get("/api/balance-alert")).json()) as { thresholdCredits: number | null; state: string; balance: number; below: boolean };
const bannerShown = async (client: HttpClient) => {
  const res = await client.get("/generate");
  expect(res.status).toBe(200);
  return (await res.text()).includes('data-testid="balance-alert-banner"');
};
const images = (client: HttpClient, count: number) =>
  Promise.all(
    Array.from({ length: count }, (_, i) =>
      client.request("/api/generate-image", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ prompt: `fox ${i}`, size: "256x256" }) }),
    ),
  );

describe("balance alerts over HTTP and SMTP", () => {
  it("20 parallel generations crossing the threshold: one mail; a purchase re-arms; the next fall mails again; the banner follows the balance", { timeout: 90_000 }, async () => {
    const { client, email, userId } = await signedUp("crossing");
    expect(await bannerShown(client)).toBe(false);
    const set = await putAlert(client, { thresholdCredits: 50 });
    expect(set.status).toBe(200);
    expect(await set.json()).toEqual({ thresholdCredits: 50, state: "armed", balance: 100, below: false });

    const answers = await images(client, 20); // 100 → 0, crossing 50 somewhere in the middle
    expect(answers.map((r) => r.status)).toEqual(Array(20).fill(201));
    await waitForAlerts(email, 1);
    expect(alertsTo(email)).toHaveLength(1);
    const mail = alertsTo(email)[0]!;
    expect(mail.envelopeTo).toEqual([email]);
    expect(mail.parsed.text).toContain("below the alert you set at 50 credits");
    expect(mail.parsed.text).toContain(`${server.url}/settings/billing`);
    expect(await alertOf(client)).toMatchObject({ state: "fired", balance: 0, below: true });
    expect(await bannerShown(client)).toBe(true);

    // Credits arrive through the ledger (as a webhook's purchase would): no page is loaded before
    // the next spends, so only the ledger can tell the alert the balance was back above.
    await withServerDb(server.dataDir, (db) => grant(db, { userId, amount: 100, type: "purchase", key: `test-purchase:${userId}`, description: "test pack" }));
    const again = await images(client, 20);
    expect(again.map((r) => r.status)).toEqual(Array(20).fill(201));
    await waitForAlerts(email, 2);
    expect(alertsTo(email)).toHaveLength(2);

    // Back above: the banner hides (and the page load re-arms); below again: it shows.
    await withServerDb(server.dataDir, (db) => grant(db, { userId, amount: 60, type: "purchase", key: `test-purchase-2:${userId}`, description: "test pack" }));
    expect(await bannerShown(client)).toBe(false);
    expect(await alertOf(client)).toMatchObject({ state: "armed", balance: 60, below: false });
    expect((await images(client, 3)).map((r) => r.status)).toEqual([201, 201, 201]); // 45
    await waitForAlerts(email, 3);
    expect(alertsTo(email)).toHaveLength(3);
    expect(await bannerShown(client)).toBe(true);
    expectLedgerConsistent(server.dataDir);
  });

  it("two server processes on one database file, 20 spends split between them crossing at once: one mail", { timeout: 90_000 }, async () => {
    const second = await startServer(env(smtp.url), { dataDir: server.dataDir });
    try {
      const { client, email } = await signedUp("two-processes");
      expect((await putAlert(client, { thresholdCredits: 50 })).status).toBe(200);
      const other = new HttpClient(second.url);
      other.cookies = client.cookies; // sessions live in the database
      const answers = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          (i % 2 ? other : client).request("/api/generate-image", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ prompt: `heron ${i}`, size: "256x256" }) }),
        ),
      );
      expect(answers.map((r) => r.status)).toEqual(Array(20).fill(201));
      await waitForAlerts(email, 1);
      expect(alertsTo(email)).toHaveLength(1);
      expect(await alertOf(client)).toMatchObject({ state: "fired", balance: 0 });
    } finally {
      await second.stop();
    }
  });

  it("an API key sets the alert and spends through it; a key's spends cross once", { timeout: 60_000 }, async () => {
    const { client, email } = await signedUp("keyed");
    const { key } = await createKey(client, "alerts");
    const put = await withKey(server.url, key, "/api/balance-alert", { method: "PUT", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ thresholdCredits: 50 }) });
    expect(put.status).toBe(200);
    expect((await (await withKey(server.url, key, "/api/balance-alert")).json()) as object).toMatchObject({ thresholdCredits: 50, state: "armed" });
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => imageWithKey(server.url, key, `owl ${i}`)));
    expect(answers.map((r) => r.status)).toEqual(Array(20).fill(201));
    await waitForAlerts(email, 1);
    expect(alertsTo(email)).toHaveLength(1);
  });

  it("off by default: spending to zero mails nothing and shows no banner", { timeout: 60_000 }, async () => {
    const { client, email } = await signedUp("off");
    expect(await alertOf(client)).toEqual({ thresholdCredits: null, state: "off", balance: 100, below: false });
    expect((await images(client, 20)).every((r) => r.status === 201)).toBe(true);
    await sleep(1_500);
    expect(smtp.mailsTo(email).filter((m) => /balance is below/.test(m.parsed.subject ?? ""))).toEqual([]);
    expect(await bannerShown(client)).toBe(false);
  });

  it.each([
    ["0", 0],
    ["-1", -1],
    ["1.5", 1.5],
    ["1e12", 1e12],
    ["1000001", 1_000_001],
    ['"abc"', "abc"],
    ['""', ""],
    ['"50" (a string)', "50"],
    ["true", true],
    ["[]", []],
    ["{}", {}],
  ])("JSON thresholdCredits %s: 422, nothing changed", async (_label, value) => {
    const client = hostile;
    const res = await putAlert(client, { thresholdCredits: value });
    expect(res.status).toBe(422);
    expect(((await res.json()) as { error: string }).error).toBe("invalid_request");
    expect(await alertOf(client)).toMatchObject({ thresholdCredits: 30 });
  });

  it.each([
    ["no field", {}],
    ["an extra field", { thresholdCredits: 40, also: 1 }],
    ["not an object", [40]],
  ])("JSON with %s: 422, nothing changed", async (_label, body) => {
    const res = await putAlert(hostile, body);
    expect(res.status).toBe(422);
    expect(await alertOf(hostile)).toMatchObject({ thresholdCredits: 30 });
  });

  it.each(["0", "-1", "1.5", "1e12", "abc", "1000001", "12 credits", "٣"])("form threshold %j: 400 with the field's error, nothing changed", async (value) => {
    const res = await hostile.post("/settings/billing", { intent: "balance-alert", thresholdCredits: value });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain("The alert threshold is a whole number of credits from 1 to 1,000,000.");
    expect(await alertOf(hostile)).toMatchObject({ thresholdCredits: 30 });
  });

  it("the form: a value sets it, empty turns it off (303 back to the billing page); null by JSON too", async () => {
    const { client } = await signedUp("form");
    const set = await client.post("/settings/billing", { intent: "balance-alert", thresholdCredits: " 40 " });
    expect(set.status).toBe(303);
    expect(set.headers.get("Location")).toBe("/settings/billing");
    expect(await alertOf(client)).toMatchObject({ thresholdCredits: 40, state: "armed" });
    expect((await client.post("/settings/billing", { intent: "balance-alert", thresholdCredits: "" })).status).toBe(303);
    expect(await alertOf(client)).toMatchObject({ thresholdCredits: null, state: "off" });
    expect((await putAlert(client, { thresholdCredits: 40 })).status).toBe(200);
    expect((await putAlert(client, { thresholdCredits: null })).status).toBe(200);
    expect(await alertOf(client)).toMatchObject({ thresholdCredits: null, state: "off" });
    // Signed out: 401 JSON, and the form sends to the log-in page.
    expect((await new HttpClient(server.url).get("/api/balance-alert")).status).toBe(401);
    const stranger = await new HttpClient(server.url).post("/settings/billing", { intent: "balance-alert", thresholdCredits: "5" });
    expect(stranger.status).toBe(303);
    expect(stranger.headers.get("Location")).toMatch(/^\/login/);
  });
});

let hostile: HttpClient;
beforeAll(async () => {
  hostile = (await signedUp("hostile")).client;
  expect((await putAlert(hostile, { thresholdCredits: 30 })).status).toBe(200);
});
