import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { grant } from "../../app/services/money/ledger.server";
import { verifyLedger } from "../../app/services/money/ledger-verify.server";
import { isSignedIn, loggedInClient, stableHtml, uniqueAddress, userIdByEmail, userRow, withServerDb } from "../support/accounts";
import { latestMailTo, linkIn, mailsTo } from "../support/mailbox";
import { HttpClient, startServer, type RunningServer } from "../support/server";
import { balanceOf, postJson } from "./generation-support";

const FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0";
const CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36";
const PW = "password123";

let server: RunningServer;
beforeAll(async () => {
  server = await startServer({ SIGNUP_BONUS_CREDITS: "0", LOCAL_VIDEO_DURATION_MS: "120000", VIDEO_COST: "10", IMAGE_COST: "5" });
});
afterAll(async () => {
  await server?.stop();
});

async function account(tag: string, userAgent?: string) {
  const email = uniqueAddress(tag);
  const client = new HttpClient(server.url, userAgent ? { "User-Agent": userAgent } : {});
  await client.signup(email, PW);
  return { email, client, id: userIdByEmail(server.dataDir, email)! };
}

const post = (client: HttpClient, form: Record<string, string>) => client.post("/settings/account", form);

describe("the account page", () => {
  it("needs a signed-in user and shows the address on the page and in the nav", async () => {
    const anonymous = await new HttpClient(server.url).get("/settings/account");
    expect(anonymous.status).toBe(303);
    expect(anonymous.headers.get("location")).toBe("/login?redirectTo=%2Fsettings%2Faccount");
    const { email, client } = await account("page");
    const html = await (await client.get("/settings/account")).text();
    expect(html).toMatch(new RegExp(`data-testid="account-email"[^]*<strong>${email}</strong>`));
    const navLink = html.match(/<a[^>]*data-testid="nav-account"[^>]*>/)?.[0] ?? "";
    expect(navLink).toContain('href="/settings/account"');
    expect(navLink).toContain(`aria-label="Account: ${email}"`);
  });

  it("change password: a wrong current one is a field error; the right one signs out the others and mails the owner", async () => {
    const { email, client } = await account("chpw");
    const phone = await loggedInClient(server.url, email, PW);
    const wrong = await post(client, { intent: "change-password", currentPassword: "not-my-password", newPassword: "brand-new-pass" });
    expect(wrong.status).toBe(400);
    expect(await wrong.text()).toContain("The current password is not right.");
    expect(await isSignedIn(phone)).toBe(true);
    const ok = await post(client, { intent: "change-password", currentPassword: PW, newPassword: "brand-new-pass" });
    expect(ok.status).toBe(303);
    expect(ok.headers.get("location")).toBe("/settings/account");
    expect(await (await client.get("/settings/account")).text()).toContain("Your password was changed.");
    expect(await isSignedIn(client)).toBe(true);
    expect(await isSignedIn(phone)).toBe(false);
    expect((await new HttpClient(server.url).post("/login", { email, password: PW })).status).toBe(400);
    expect((await new HttpClient(server.url).post("/login", { email, password: "brand-new-pass" })).status).toBe(303);
    expect(latestMailTo(server.dataDir, email, "password_changed")).toBeDefined();
  });

  it("change e-mail: nothing changes until the new address confirms; the old address is told", async () => {
    const { email, client, id } = await account("chmail");
    const newEmail = uniqueAddress("chmail-new");
    const res = await post(client, { intent: "change-email", newEmail: newEmail.toUpperCase(), password: PW });
    expect(res.status).toBe(303);
    expect(await (await client.get("/settings/account")).text()).toContain("We sent a link to the new address.");
    expect(userRow(server.dataDir, id)!.email).toBe(email);
    expect(latestMailTo(server.dataDir, email, "email_change_requested")!.text).toContain(newEmail);
    const link = linkIn(latestMailTo(server.dataDir, newEmail, "change_email")!, "/confirm-email-change");
    expect(link.origin).toBe(server.url);

    const page = await new HttpClient(server.url).get(`/confirm-email-change${link.search}`);
    expect(await page.text()).toContain("Confirm the new address");
    expect(userRow(server.dataDir, id)!.email).toBe(email);

    const confirm = await new HttpClient(server.url).post(`/confirm-email-change${link.search}`, { token: link.searchParams.get("token")! });
    expect(confirm.status).toBe(303);
    const row = userRow(server.dataDir, id)!;
    expect(row.email).toBe(newEmail);
    expect(row.emailVerifiedAt).not.toBeNull();
    expect(latestMailTo(server.dataDir, email, "email_changed")!.text).toContain(newEmail);
    expect((await new HttpClient(server.url).post("/login", { email, password: PW })).status).toBe(400);
    expect((await new HttpClient(server.url).post("/login", { email: newEmail, password: PW })).status).toBe(303);
    const reused = await new HttpClient(server.url).post(`/confirm-email-change${link.search}`, { token: link.searchParams.get("token")! });
    expect(reused.status).toBe(400);
    expect(await reused.text()).toContain("This link was already used.");
  });

  it("a taken address cannot be stolen, and the requester cannot tell it is taken", async () => {
    const victim = await account("victim");
    const { email, client, id } = await account("thief");
    const victimMails = mailsTo(server.dataDir, victim.email).length;
    const free = uniqueAddress("free");
    const answers: Array<{ status: number; location: string | null; page: string }> = [];
    for (const newEmail of [victim.email, free]) {
      const res = await post(client, { intent: "change-email", newEmail, password: PW });
      answers.push({ status: res.status, location: res.headers.get("location"), page: await (await client.get("/settings/account")).text() });
    }
    expect(answers[0]!.status).toBe(303);
    // Byte for byte the same page, but for the nonces and the toast's random id.
    const stable = (a: (typeof answers)[number]) => ({ ...a, page: stableHtml(a.page).replace(/"id":"[0-9a-f-]{36}"/g, '"id":""') });
    expect(stable(answers[0]!)).toEqual(stable(answers[1]!));
    expect(mailsTo(server.dataDir, victim.email).length).toBe(victimMails);
    const tokens = withServerDb(server.dataDir, (db) => db.sqlite.prepare("SELECT email FROM email_tokens WHERE user_id = ? AND purpose = 'change_email'").all(id));
    expect(tokens).toEqual([{ email: free }]);

    // The address is free when asked for but taken before the confirmation: the UNIQUE index decides.
    const link = linkIn(latestMailTo(server.dataDir, free, "change_email")!, "/confirm-email-change");
    await new HttpClient(server.url).signup(free);
    const confirm = await new HttpClient(server.url).post(`/confirm-email-change${link.search}`, { token: link.searchParams.get("token")! });
    expect(confirm.status).toBe(400);
    expect(await confirm.text()).toContain("The address could not be changed.");
    expect(userRow(server.dataDir, id)!.email).toBe(email);
    expect(userRow(server.dataDir, victim.id)!.email).toBe(victim.email);
  });

  it("lists sessions with browser, IP and last seen; 'sign out everywhere else' ends the others", async () => {
    const { email, client, id } = await account("sessions", FIREFOX);
    const other = await loggedInClient(server.url, email, PW, CHROME);
    // A client cannot choose the IP the page shows.
    await other.get("/settings/billing", { headers: { "User-Agent": CHROME, "X-Credits-Client-Ip": "6.6.6.6" } });
    const html = await (await client.get("/settings/account", { headers: { "User-Agent": FIREFOX } })).text();
    expect(html).toContain("Firefox on Windows");
    expect(html).toContain("Chrome on Linux");
    expect(html).toContain("127.0.0.1");
    expect(html).not.toContain("6.6.6.6");
    expect(html).toMatch(/\d{4}-\d\d-\d\d \d\d:\d\d UTC/);
    const rows = withServerDb(server.dataDir, (db) =>
      db.sqlite.prepare("SELECT user_agent AS ua, ip, last_seen_at AS seen FROM sessions WHERE user_id = ?").all(id),
    ) as Array<{ ua: string; ip: string; seen: number }>;
    expect(rows.map((r) => r.ua).sort()).toEqual([CHROME, FIREFOX].sort());
    expect(rows.every((r) => r.ip === "127.0.0.1" && r.seen > Date.now() - 60_000)).toBe(true);

    const res = await post(client, { intent: "sign-out-others" });
    expect(res.status).toBe(303);
    expect(await isSignedIn(other)).toBe(false);
    expect(await isSignedIn(client)).toBe(true);
    const after = await (await client.get("/settings/account")).text();
    expect(after).not.toContain("Chrome on Linux");
  });

  it("writes last_seen_at at most once a minute", async () => {
    const { client, id } = await account("seen");
    const seen = () => withServerDb(server.dataDir, (db) => (db.sqlite.prepare("SELECT last_seen_at AS s FROM sessions WHERE user_id = ?").get(id) as { s: number }).s);
    const set = (value: number) => withServerDb(server.dataDir, (db) => db.sqlite.prepare("UPDATE sessions SET last_seen_at = ? WHERE user_id = ?").run(value, id));
    const recent = Date.now() - 30_000;
    set(recent);
    await client.get("/settings/account");
    expect(seen()).toBe(recent);
    const old = Date.now() - 61_000;
    set(old);
    await client.get("/settings/account");
    expect(seen()).toBeGreaterThan(old + 60_000);
  });
});

describe("deleting an account", () => {
  it("voids holds, keeps the ledger, removes the person, frees the address", async () => {
    const { email, client, id } = await account("delete");
    await withServerDb(server.dataDir, (db) => grant(db, { userId: id, amount: 100, type: "bonus", key: `test-grant:${id}`, description: "test credits" }));
    const image = await postJson(client, "/api/generate-image", { prompt: "a lighthouse" });
    expect(image.status).toBeLessThan(300);
    const video = await postJson(client, "/api/generate-video", { prompt: "waves", options: { resolution: "720p", durationSeconds: 5 } });
    expect(video.status).toBe(202);
    // 5 s at VIDEO_COST 10 per 8 s: 6.25, rounded up.
    expect(await balanceOf(client)).toMatchObject({ onHold: 7 });
    const userDir = path.join(server.dataDir, "generations", String(id));
    const deadline = Date.now() + 10_000;
    while (!(fs.existsSync(userDir) && fs.readdirSync(userDir).length > 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(fs.readdirSync(userDir).length).toBeGreaterThan(0);
    const ledgerRows = withServerDb(server.dataDir, (db) => (db.sqlite.prepare("SELECT count(*) AS n FROM transactions WHERE user_id = ?").get(id) as { n: number }).n);

    expect((await post(client, { intent: "delete-account", password: "wrong-password", confirm: "DELETE" })).status).toBe(400);
    expect((await post(client, { intent: "delete-account", password: PW, confirm: "delete" })).status).toBe(400);
    expect(userRow(server.dataDir, id)!.deletedAt).toBeNull();
    const res = await post(client, { intent: "delete-account", password: PW, confirm: "DELETE" });
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/");
    expect(await (await client.get("/")).text()).toContain("Your account was deleted.");
    expect(await isSignedIn(client)).toBe(false);

    const row = userRow(server.dataDir, id)!;
    expect(row).toMatchObject({ email: `deleted-${id}@deleted.invalid`, emailVerifiedAt: null });
    expect(row.deletedAt).not.toBeNull();
    expect(row.passwordHash.startsWith("scrypt$")).toBe(false);
    withServerDb(server.dataDir, (db) => {
      const count = (sql: string) => (db.sqlite.prepare(sql).get(id) as { n: number }).n;
      expect(count("SELECT count(*) AS n FROM transactions WHERE user_id = ?")).toBe(ledgerRows);
      expect(count("SELECT count(*) AS n FROM transactions WHERE user_id = ? AND status = 'pending'")).toBe(0);
      expect(count("SELECT count(*) AS n FROM transactions WHERE user_id = ? AND status = 'voided'")).toBe(1);
      expect(count("SELECT count(*) AS n FROM generations WHERE user_id = ? AND status IN ('queued', 'running')")).toBe(0);
      expect(count("SELECT count(*) AS n FROM generations WHERE user_id = ? AND prompt <> ''")).toBe(0);
      expect(count("SELECT count(*) AS n FROM sessions WHERE user_id = ?")).toBe(0);
      expect(count("SELECT count(*) AS n FROM email_tokens WHERE user_id = ?")).toBe(0);
      expect((db.sqlite.prepare("SELECT credits FROM users WHERE id = ?").get(id) as { credits: number }).credits).toBe(95);
      expect(verifyLedger(db, { sweepGraceMs: 60_000 }).violations).toEqual([]);
    });
    expect(fs.existsSync(userDir) ? fs.readdirSync(userDir) : []).toEqual([]);
    expect(latestMailTo(server.dataDir, email, "account_deleted")).toBeDefined();

    expect((await new HttpClient(server.url).post("/login", { email, password: PW })).status).toBe(400);
    expect((await new HttpClient(server.url).post("/login", { email: `deleted-${id}@deleted.invalid`, password: PW })).status).toBe(400);
    const again = new HttpClient(server.url);
    await again.signup(email, "another-password");
    expect(userIdByEmail(server.dataDir, email)).not.toBe(id);
    expect(await balanceOf(again)).toMatchObject({ balance: 0, onHold: 0 });
  });
});

describe("hostile values on the account forms", () => {
  it("each form refuses them with 400 and changes nothing", async () => {
    const { email, client, id } = await account("hostile");
    const cases: Array<[string, Record<string, string>]> = [
      ["no intent", {}],
      ["unknown intent", { intent: "drop-table" }],
      ["password: empty current", { intent: "change-password", currentPassword: "", newPassword: "brand-new-pass" }],
      ["password: short new", { intent: "change-password", currentPassword: PW, newPassword: "short" }],
      ["password: long new", { intent: "change-password", currentPassword: PW, newPassword: "x".repeat(201) }],
      ["password: long current", { intent: "change-password", currentPassword: "x".repeat(201), newPassword: "brand-new-pass" }],
      ["email: empty", { intent: "change-email", newEmail: "", password: PW }],
      ["email: too long", { intent: "change-email", newEmail: `${"a".repeat(250)}@example.com`, password: PW }],
      ["email: control characters", { intent: "change-email", newEmail: "a\u0007b@example.com", password: PW }],
      ["email: header injection", { intent: "change-email", newEmail: "a@example.com\r\nBcc: x@example.com", password: PW }],
      ["email: the same address", { intent: "change-email", newEmail: email, password: PW }],
      ["email: no password", { intent: "change-email", newEmail: uniqueAddress("x") }],
      ["delete: empty", { intent: "delete-account", password: "", confirm: "" }],
      ["delete: confirm too long", { intent: "delete-account", password: PW, confirm: "DELETE".repeat(20) }],
      ["delete: confirm with control characters", { intent: "delete-account", password: PW, confirm: "DEL\u0000ETE" }],
      ["delete: no confirm", { intent: "delete-account", password: PW }],
    ];
    for (const [name, form] of cases) expect((await post(client, form)).status, name).toBe(400);
    const duplicated = await client.request("/settings/account", {
      method: "POST",
      body: new URLSearchParams([["intent", "delete-account"], ["password", PW], ["password", PW], ["confirm", "DELETE"]]).toString(),
      headers: { "Content-Type": "application/x-www-form-urlencoded", Origin: server.url },
    });
    expect(duplicated.status).toBe(400);
    expect(userRow(server.dataDir, id)).toMatchObject({ email, deletedAt: null });
    expect((await new HttpClient(server.url).post("/login", { email, password: PW })).status).toBe(303);
    expect(mailsTo(server.dataDir, email).filter((m) => m.kind !== "verify_email")).toEqual([]);
    const confirmCases = ["", "x".repeat(5000), "\u0000"];
    for (const token of confirmCases) {
      expect((await new HttpClient(server.url).post("/confirm-email-change", { token })).status, JSON.stringify(token)).toBe(400);
    }
  });
});

describe("account limits", () => {
  let limited: RunningServer;
  beforeAll(async () => {
    limited = await startServer({ SIGNUP_BONUS_CREDITS: "0", AUTH_RATE_LIMIT_DISABLED: "0", AUTH_LOGIN_FAILURES_PER_ACCOUNT: "3" });
  });
  afterAll(async () => {
    await limited?.stop();
  });

  it("a wrong current password counts like a failed log-in; past the limit even the right one is refused", async () => {
    const email = uniqueAddress("limit");
    const client = new HttpClient(limited.url);
    await client.signup(email);
    const attempt = (currentPassword: string) => client.post("/settings/account", { intent: "change-password", currentPassword, newPassword: "brand-new-pass" });
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await attempt(`wrong-${i}-password`)).status);
    expect(statuses).toEqual([400, 400, 400, 429]);
    const right = await attempt(PW);
    expect(right.status).toBe(429);
    expect(right.headers.get("retry-after")).toMatch(/^\d+$/);
    expect((await new HttpClient(limited.url).post("/login", { email, password: PW })).status).toBe(429);
  });
});
