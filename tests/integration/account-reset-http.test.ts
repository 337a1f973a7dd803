import crypto from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isSignedIn, loggedInClient, stableHtml, uniqueAddress, userIdByEmail, withServerDb } from "../support/accounts";
import { latestMailTo, linkIn, mailsTo } from "../support/mailbox";
import { HttpClient, startServer, type RunningServer } from "../support/server";

const SENT = "If an account exists for that address, we sent a link to reset its password.";

let server: RunningServer;
beforeAll(async () => {
  server = await startServer({ SIGNUP_BONUS_CREDITS: "0" });
});
afterAll(async () => {
  await server?.stop();
});

async function requestLink(email: string): Promise<URL> {
  const res = await new HttpClient(server.url).post("/forgot-password", { email });
  expect(res.status).toBe(200);
  return linkIn(latestMailTo(server.dataDir, email, "reset_password")!, "/reset-password");
}

async function setPassword(link: URL, password: string, client = new HttpClient(server.url)) {
  return client.post(`/reset-password${link.search}`, { token: link.searchParams.get("token")!, password });
}

async function canLogIn(email: string, password: string) {
  return (await new HttpClient(server.url).post("/login", { email, password })).status === 303;
}

describe("password reset", () => {
  it("mails an absolute single-use link; the new password works, the old one and every session end", async () => {
    const email = uniqueAddress("reset");
    const owner = new HttpClient(server.url);
    await owner.signup(email, "old-password-1");
    const laptop = await loggedInClient(server.url, email, "old-password-1");
    expect(await isSignedIn(laptop)).toBe(true);

    const link = await requestLink(email);
    expect(link.origin).toBe(server.url);
    const raw = link.searchParams.get("token")!;
    expect(raw).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const stored = withServerDb(server.dataDir, (db) => db.sqlite.prepare("SELECT token_hash AS h, purpose, expires_at - created_at AS ttl FROM email_tokens WHERE email = ? AND purpose = 'reset_password'").all(email));
    expect(stored).toEqual([{ h: crypto.createHash("sha256").update(raw).digest("hex"), purpose: "reset_password", ttl: 3_600_000 }]);

    const page = await new HttpClient(server.url).get(`/reset-password${link.search}`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("New password");

    // Reset from the browser that is still signed in: its session ends too, and the message shows at log-in.
    const res = await setPassword(link, "new-password-2", owner);
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/login");
    expect(await (await owner.get("/login")).text()).toContain("Your password was changed.");
    expect(await canLogIn(email, "old-password-1")).toBe(false);
    expect(await canLogIn(email, "new-password-2")).toBe(true);
    expect(await isSignedIn(laptop)).toBe(false);
    expect(await isSignedIn(owner)).toBe(false);
    expect(latestMailTo(server.dataDir, email, "password_changed")?.subject).toBe("Your password was changed");

    const again = await setPassword(link, "third-password-3");
    expect(again.status).toBe(400);
    const html = await again.text();
    expect(html).toContain("This link was already used.");
    expect(html).toContain('href="/forgot-password"');
    expect(await (await new HttpClient(server.url).get(`/reset-password${link.search}`)).text()).toContain("This link was already used.");
    expect(await canLogIn(email, "third-password-3")).toBe(false);
  });

  it("two parallel posts of one link: exactly one sets its password", async () => {
    const email = uniqueAddress("race");
    await new HttpClient(server.url).signup(email, "old-password-1");
    const link = await requestLink(email);
    const results = await Promise.all([setPassword(link, "racer-one-111"), setPassword(link, "racer-two-222")]);
    expect(results.map((r) => r.status).sort()).toEqual([303, 400]);
    const winner = results[0]!.status === 303 ? "racer-one-111" : "racer-two-222";
    const loser = winner === "racer-one-111" ? "racer-two-222" : "racer-one-111";
    expect(await canLogIn(email, winner)).toBe(true);
    expect(await canLogIn(email, loser)).toBe(false);
    expect(mailsTo(server.dataDir, email, "password_changed")).toHaveLength(1);
  });

  it("an expired link is refused and offers a new one", async () => {
    const email = uniqueAddress("expired");
    await new HttpClient(server.url).signup(email, "old-password-1");
    const link = await requestLink(email);
    withServerDb(server.dataDir, (db) => db.sqlite.prepare("UPDATE email_tokens SET expires_at = ? WHERE email = ?").run(Date.now() - 1, email));
    const page = await (await new HttpClient(server.url).get(`/reset-password${link.search}`)).text();
    expect(page).toContain("This link has expired.");
    expect(page).toContain('href="/forgot-password"');
    const res = await setPassword(link, "new-password-2");
    expect(res.status).toBe(400);
    expect(await res.text()).toContain("This link has expired.");
    expect(await canLogIn(email, "old-password-1")).toBe(true);
  });

  it("answers a known, an unknown and a deleted address identically, and mails only the known one", async () => {
    const known = uniqueAddress("known");
    const unknown = uniqueAddress("unknown");
    const deleted = uniqueAddress("deleted");
    await new HttpClient(server.url).signup(known);
    const gone = new HttpClient(server.url);
    await gone.signup(deleted);
    expect((await gone.post("/settings/account", { intent: "delete-account", password: "password123", confirm: "DELETE" })).status).toBe(303);
    const before = mailsTo(server.dataDir, deleted).length;

    const answers = [];
    for (const email of [known, unknown, deleted]) {
      const res = await new HttpClient(server.url).post("/forgot-password", { email });
      answers.push({ status: res.status, body: stableHtml(await res.text()) });
    }
    expect(answers[0]!.body).toContain(SENT);
    expect(answers[0]!.body).not.toContain(known);
    expect(answers[1]).toEqual(answers[0]);
    expect(answers[2]).toEqual(answers[0]);
    expect(mailsTo(server.dataDir, known, "reset_password")).toHaveLength(1);
    expect(mailsTo(server.dataDir, unknown)).toHaveLength(0);
    expect(mailsTo(server.dataDir, deleted).length).toBe(before);
  });

  it("refuses hostile values of /forgot-password with 400 and mails nothing", async () => {
    const cases: Array<[string, string]> = [
      ["", ""],
      ["blank", "   "],
      ["too long", `${"a".repeat(250)}@example.com`],
      ["NUL", "a\u0000b@example.com"],
      ["header injection", "a@example.com\r\nBcc: victim@example.com"],
      ["not an address", "not-an-email"],
    ];
    for (const [name, email] of cases) {
      const res = await new HttpClient(server.url).post("/forgot-password", { email });
      expect(res.status, name).toBe(400);
      expect(await res.text(), name).not.toContain(SENT);
    }
    const duplicated = await new HttpClient(server.url).request("/forgot-password", {
      method: "POST",
      body: "email=a%40example.com&email=b%40example.com",
      headers: { "Content-Type": "application/x-www-form-urlencoded", Origin: server.url },
    });
    expect(duplicated.status).toBe(400);
    const missing = await new HttpClient(server.url).post("/forgot-password", {});
    expect(missing.status).toBe(400);
    const queued = withServerDb(server.dataDir, (db) => db.sqlite.prepare("SELECT count(*) AS n FROM mail_queue WHERE to_address NOT LIKE '%@example.com' OR to_address LIKE '%victim%' OR to_address IN ('a@example.com','b@example.com')").get());
    expect(queued).toEqual({ n: 0 });
  });

  it("refuses hostile values of /reset-password with 400 and changes no password", async () => {
    const email = uniqueAddress("hostile");
    await new HttpClient(server.url).signup(email, "old-password-1");
    const link = await requestLink(email);
    const token = link.searchParams.get("token")!;
    const cases: Array<[string, Record<string, string>, RegExp]> = [
      ["empty password", { token, password: "" }, /Password is required|at least 8/],
      ["short password", { token, password: "short" }, /at least 8 characters/],
      ["long password", { token, password: "x".repeat(201) }, /at most 200 characters/],
      ["no token", { password: "new-password-2" }, /not valid/],
      ["empty token", { token: "", password: "new-password-2" }, /not valid/],
      ["long token", { token: "A".repeat(5000), password: "new-password-2" }, /not valid/],
      ["control characters", { token: `${token.slice(0, 42)}\u0000`, password: "new-password-2" }, /not valid/],
      ["a near miss", { token: `${token.slice(0, 42)}${token.endsWith("A") ? "B" : "A"}`, password: "new-password-2" }, /not valid/],
    ];
    for (const [name, form, message] of cases) {
      const res = await new HttpClient(server.url).post(`/reset-password${link.search}`, form);
      expect(res.status, name).toBe(400);
      expect(await res.text(), name).toMatch(message);
    }
    const arrays = await new HttpClient(server.url).request(`/reset-password${link.search}`, {
      method: "POST",
      body: new URLSearchParams([["token", token], ["token", token], ["password", "new-password-2"]]).toString(),
      headers: { "Content-Type": "application/x-www-form-urlencoded", Origin: server.url },
    });
    expect(arrays.status).toBe(400);
    expect(await canLogIn(email, "old-password-1")).toBe(true);
    // The link survived the hostile posts and still works once.
    expect((await setPassword(link, "new-password-2")).status).toBe(303);
  });

  it("a GET of a bad link shows it as not valid, with the way to a new one", async () => {
    for (const token of ["", "garbage", "A".repeat(43)]) {
      const html = await (await new HttpClient(server.url).get(`/reset-password?token=${encodeURIComponent(token)}`)).text();
      expect(html, token).toContain("This link is not valid.");
      expect(html, token).toContain('href="/forgot-password"');
    }
  });

  it("the log-in page links to /forgot-password", async () => {
    const html = await (await new HttpClient(server.url).get("/login")).text();
    expect(html).toMatch(/<a[^>]*href="\/forgot-password"[^>]*>Forgot your password\?<\/a>/);
  });

  it("a reset link sent before an address change no longer opens the account", async () => {
    const email = uniqueAddress("moved");
    const owner = new HttpClient(server.url);
    await owner.signup(email, "old-password-1");
    const link = await requestLink(email);
    const newEmail = uniqueAddress("moved-new");
    expect((await owner.post("/settings/account", { intent: "change-email", newEmail, password: "old-password-1" })).status).toBe(303);
    const confirm = linkIn(latestMailTo(server.dataDir, newEmail, "change_email")!, "/confirm-email-change");
    expect((await new HttpClient(server.url).post(`/confirm-email-change${confirm.search}`, { token: confirm.searchParams.get("token")! })).status).toBe(303);
    expect(userIdByEmail(server.dataDir, newEmail)).toBeDefined();
    expect((await setPassword(link, "new-password-2")).status).toBe(400);
    expect(await canLogIn(newEmail, "old-password-1")).toBe(true);
  });
});

describe("password reset limits", () => {
  let limited: RunningServer;
  beforeAll(async () => {
    limited = await startServer({ SIGNUP_BONUS_CREDITS: "0", AUTH_RATE_LIMIT_DISABLED: "0" });
  });
  afterAll(async () => {
    await limited?.stop();
  });

  it("many parallel requests for one address queue a bounded number of mails, and a known and an unknown address are limited alike", async () => {
    const known = uniqueAddress("flood");
    await new HttpClient(limited.url).signup(known);
    const unknown = uniqueAddress("flood-unknown");
    const flood = (email: string) => Promise.all(Array.from({ length: 12 }, () => new HttpClient(limited.url).post("/forgot-password", { email })));
    const knownAnswers = await flood(known);
    const unknownAnswers = await flood(unknown);
    const statuses = (rs: Response[]) => rs.map((r) => r.status).sort();
    expect(statuses(knownAnswers)).toEqual([...Array(3).fill(200), ...Array(9).fill(429)]);
    expect(statuses(unknownAnswers)).toEqual(statuses(knownAnswers));
    expect(knownAnswers.find((r) => r.status === 429)!.headers.get("retry-after")).toMatch(/^\d+$/);
    expect(mailsTo(limited.dataDir, known, "reset_password")).toHaveLength(3);
    expect(mailsTo(limited.dataDir, unknown)).toHaveLength(0);
  });

  it("one IP is limited across addresses", async () => {
    const answers = [];
    for (let i = 0; i < 40; i++) answers.push((await new HttpClient(limited.url).post("/forgot-password", { email: uniqueAddress(`ip${i}`) })).status);
    // 30 per hour per IP, of which the test above used 6.
    expect(answers.filter((s) => s === 200)).toHaveLength(24);
    expect(answers.slice(24).every((s) => s === 429)).toBe(true);
  });
});
