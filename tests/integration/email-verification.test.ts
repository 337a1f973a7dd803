import crypto from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SqlDb } from "../../db/sql.server";
import { latestMailToOn, linkPathFromOn, mailsToOn } from "../support/mailbox";
import { HttpClient, startServer, type RunningServer } from "../support/server";
import { openServerSql } from "../support/server-sql";

// Address verification against the built server: the link, its confirm button, the bonus and the
// admin role that wait for it, the answer of a sign-up for a taken address, and the resend limits.

let server: RunningServer;
let db: SqlDb;
let n = 0;
const nextEmail = (tag: string) => `${tag}-${++n}-${Date.now()}@example.com`;

beforeAll(async () => {
  server = await startServer({ ADMIN_EMAILS: "boss@example.com" });
  db = openServerSql(server);
});
afterAll(async () => {
  await db?.close();
  await server?.stop();
});

const userOf = async (email: string) =>
  (await db.get<{ id: number; credits: number; role: string; verifiedAt: number | null }>(
    `select id, credits, role, email_verified_at as "verifiedAt" from users where email = ?`,
    [email],
  ))!;
const bonusRows = async (userId: number) => (await db.get<{ n: number }>("select count(*) n from transactions where idempotency_key = ?", [`signup-bonus:${userId}`]))!.n;
const tokenOf = (linkPath: string) => new URL(linkPath, server.url).searchParams.get("token")!;

async function unverified(tag: string) {
  const email = nextEmail(tag);
  const client = new HttpClient(server.url);
  await client.signupUnverified(email);
  return { email, client, link: await linkPathFromOn(server, email, "verify_email") };
}

describe("the verification link", () => {
  it("sign-up queues one mail whose link opens a page with a button; confirming grants the bonus once", async () => {
    const { email, client, link } = await unverified("v");
    const mail = (await latestMailToOn(server, email, "verify_email"))!;
    expect(mail.subject).toBe("Confirm your e-mail address");
    expect(mail.links[0]!.startsWith(`${server.url}/verify-email?token=`)).toBe(true);
    expect(mail.html).toContain(mail.links[0]!);
    expect(await mailsToOn(server, email)).toHaveLength(1);
    const token = tokenOf(link);
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // Only the SHA-256 is stored, and the link lives 24 hours.
    const row = (await db.get<Record<string, unknown>>("select token_hash, expires_at, created_at, purpose from email_tokens where user_id = ?", [(await userOf(email)).id]))!;
    expect(row.token_hash).toBe(crypto.createHash("sha256").update(token).digest("hex"));
    expect(JSON.stringify(await db.all("select * from email_tokens"))).not.toContain(token);
    expect(Number(row.expires_at) - Number(row.created_at)).toBe(24 * 3600 * 1000);
    expect(await userOf(email)).toMatchObject({ credits: 0, verifiedAt: null });

    // Opening the link (twice, as a mail scanner would) changes nothing.
    for (let i = 0; i < 2; i++) {
      const page = await new HttpClient(server.url).get(link);
      expect(page.status).toBe(200);
      // Browsers apply the last policy of the list: the token never goes to another site.
      expect(page.headers.get("referrer-policy")).toMatch(/(^|, )same-origin$/);
      expect(await page.text()).toContain("Confirm my address");
    }
    expect(await userOf(email)).toMatchObject({ credits: 0, verifiedAt: null });

    // Ten parallel presses of the button, one from the signed-in owner: exactly one succeeds.
    const presses = await Promise.all(
      Array.from({ length: 10 }, (_, i) => (i === 0 ? client : new HttpClient(server.url)).post("/verify-email", { token })),
    );
    const ok = presses.filter((r) => r.status === 303 || r.status === 200);
    expect(ok).toHaveLength(1);
    expect(presses.filter((r) => r.status === 400)).toHaveLength(9);
    expect((await userOf(email)).credits).toBe(10);
    expect(await bonusRows((await userOf(email)).id)).toBe(1);
    expect((await userOf(email)).verifiedAt).not.toBeNull();

    // The link works once: now it says so plainly.
    const again = await new HttpClient(server.url).post("/verify-email", { token });
    expect(again.status).toBe(400);
    expect(await again.text()).toContain("already used");
    const reopened = await (await new HttpClient(server.url).get(link)).text();
    expect(reopened).toContain("already used");
    expect(reopened).not.toContain("Confirm my address</button>");
    expect((await userOf(email)).credits).toBe(10);
    const credits = await client.get("/api/credits");
    expect(await credits.json()).toMatchObject({ balance: 10 });
  });

  it("the signed-in owner lands on /generate with the Welcome toast; the /verify-email/:token form works too", async () => {
    const { email, client, link } = await unverified("path");
    const viaPath = await client.get(`/verify-email/${tokenOf(link)}`);
    expect(viaPath.status).toBe(303);
    const page = await client.get(viaPath.headers.get("location")!);
    expect(await page.text()).toContain("Confirm my address");
    const res = await client.post("/verify-email", { token: tokenOf(link) });
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/generate");
    expect(await (await client.get("/generate")).text()).toContain("10 free credits were added");
    expect((await userOf(email)).credits).toBe(10);
  });

  it("an account that already had the bonus (signed up before verification existed) gets it once, not twice", async () => {
    const { email, link } = await unverified("legacy");
    const { id } = await userOf(email);
    await db.write(async (tx) => {
      await tx.run(
        "insert into transactions (user_id, amount, type, status, idempotency_key, description, balance_after) values (?, 10, 'bonus', 'posted', ?, 'Sign-up bonus', 10)",
        [id, `signup-bonus:${id}`],
      );
      await tx.run("update users set credits = 10 where id = ?", [id]);
    });
    const res = await new HttpClient(server.url).post("/verify-email", { token: tokenOf(link) });
    expect(res.status).toBe(200);
    expect((await userOf(email)).credits).toBe(10);
    expect(await bonusRows(id)).toBe(1);
  });

  it("an expired link is refused, says so, and offers a new one that works", async () => {
    const { email, link } = await unverified("exp");
    await db.run("update email_tokens set expires_at = ? where user_id = ?", [Date.now() - 1000, (await userOf(email)).id]);
    const page = await (await new HttpClient(server.url).get(link)).text();
    expect(page).toContain("has expired");
    expect(page).toContain("Send me a new link");
    const confirm = await new HttpClient(server.url).post("/verify-email", { token: tokenOf(link) });
    expect(confirm.status).toBe(400);
    expect(await confirm.text()).toContain("has expired");
    expect(await userOf(email)).toMatchObject({ credits: 0, verifiedAt: null });

    const resend = await new HttpClient(server.url).post("/verify-email", { token: tokenOf(link), intent: "resend" });
    expect(resend.status).toBe(200);
    expect(await resend.text()).toContain("We sent a new confirmation link");
    const fresh = await linkPathFromOn(server, email, "verify_email");
    expect(fresh).not.toBe(link);
    expect((await new HttpClient(server.url).post("/verify-email", { token: tokenOf(fresh) })).status).toBe(200);
    expect((await userOf(email)).credits).toBe(10);
  });

  it("a resent link replaces the earlier one", async () => {
    const { email, client, link } = await unverified("replace");
    const res = await client.post("/verify-email/resend", { redirectTo: "/settings/billing" });
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/settings/billing");
    expect(await mailsToOn(server, email, "verify_email")).toHaveLength(2);
    expect((await new HttpClient(server.url).post("/verify-email", { token: tokenOf(link) })).status).toBe(400);
    expect((await userOf(email)).credits).toBe(0);
    await client.verifyEmail(email);
    expect((await userOf(email)).credits).toBe(10);
  });
});

describe("hostile token values", () => {
  const resetRaw = crypto.randomBytes(32).toString("base64url");
  const values: Array<[string, () => string]> = [
    ["empty", () => ""],
    ["one character", () => "a"],
    ["well-formed but unknown", () => crypto.randomBytes(32).toString("base64url")],
    ["42 characters", () => crypto.randomBytes(32).toString("base64url").slice(0, 42)],
    ["44 characters", () => `${crypto.randomBytes(32).toString("base64url")}A`],
    ["very long", () => "A".repeat(20_000)],
    ["wrong charset", () => `${"é".repeat(42)}!`],
    ["padding and slashes", () => `${crypto.randomBytes(30).toString("base64")}==/`],
    ["SQL", () => "' OR 1=1 --"],
    ["NUL and newline", () => "abc\u0000\r\nSet-Cookie: x=y"],
    ["path traversal", () => "../../../etc/passwd"],
    ["another purpose's token (reset_password)", () => resetRaw],
  ];

  beforeAll(async () => {
    const { email } = await unverified("reset-owner");
    const hash = crypto.createHash("sha256").update(resetRaw).digest("hex");
    await db.run("insert into email_tokens (user_id, purpose, token_hash, email, expires_at) values (?, 'reset_password', ?, ?, ?)", [
      (await userOf(email)).id,
      hash,
      email,
      Date.now() + 3600_000,
    ]);
  });

  it.each(values)("%s: the page and the button refuse it without a 500 and change nothing", async (_label, make) => {
    const value = make();
    const before = await db.get("select count(*) n from transactions");
    const page = await new HttpClient(server.url).get(`/verify-email?${new URLSearchParams({ token: value })}`);
    // Node itself refuses a URL past its header limit (431) before the app sees it; never a 500.
    expect(value.length > 10_000 ? [431] : [200]).toContain(page.status);
    const html = await page.text();
    if (page.status === 200) {
      expect(html).toContain("not valid");
      expect(html).not.toContain("Confirm my address</button>");
    }
    const viaPath = await new HttpClient(server.url).get(`/verify-email/${encodeURIComponent(value)}`);
    expect(viaPath.status).toBeLessThan(500);
    expect(value === "" ? [200] : value.length > 10_000 ? [431] : [303, 404]).toContain(viaPath.status);
    for (const intent of ["confirm", "resend"]) {
      const res = await new HttpClient(server.url).post("/verify-email", { token: value, intent });
      expect(res.status).toBe(400);
      expect(await res.text()).toContain("not valid");
    }
    expect(await db.get("select count(*) n from transactions")).toEqual(before);
    // The other purpose's token stays unused.
    expect(await db.get("select used_at from email_tokens where purpose = 'reset_password'")).toEqual({ used_at: null });
  });

  it("a token for a deleted account is refused and grants nothing", async () => {
    const { email, link } = await unverified("deleted");
    const { id } = await userOf(email);
    await db.run("update users set deleted_at = ? where id = ?", [Date.now(), id]);
    expect(await (await new HttpClient(server.url).get(link)).text()).toContain("not valid");
    const res = await new HttpClient(server.url).post("/verify-email", { token: tokenOf(link) });
    expect(res.status).toBe(400);
    expect(await bonusRows(id)).toBe(0);
    expect((await db.get<{ v: unknown }>("select email_verified_at v from users where id = ?", [id]))!.v).toBeNull();
  });
});

describe("a sign-up with a registered address", () => {
  async function signupAnswer(email: string) {
    const client = new HttpClient(server.url);
    const started = performance.now();
    const res = await client.post("/signup", { email, password: "another-password-1" });
    const ms = performance.now() - started;
    const follow = await client.get(res.headers.get("location")!);
    return {
      status: res.status,
      location: res.headers.get("location"),
      setCookie: res.headers.get("set-cookie"),
      cacheControl: res.headers.get("cache-control"),
      cookies: client.cookies.size,
      body: await res.text(),
      pageStatus: follow.status,
      page: (await follow.text()).replace(/nonce="[^"]*"/g, "").replace(/"id":"[^"]*"/g, ""),
      ms,
    };
  }

  it("answers exactly like a new one, logs nobody in, and mails the owner instead", async () => {
    const owner = nextEmail("owner");
    await new HttpClient(server.url).signup(owner, "owners-password-1");
    const before = (await mailsToOn(server, owner)).length;
    const taken = await signupAnswer(owner.toUpperCase());
    const fresh = await signupAnswer(nextEmail("fresh"));
    const { ms: takenMs, ...takenRest } = taken;
    const { ms: freshMs, ...freshRest } = fresh;
    expect(takenRest).toEqual(freshRest);
    expect(taken).toMatchObject({ status: 303, location: "/signup/check-inbox", setCookie: null, cookies: 0 });
    expect(taken.page).toContain("Check your inbox");
    // Both hash the password: neither answers in a fraction of the other's time.
    expect(Math.min(takenMs, freshMs) * 5).toBeGreaterThan(Math.max(takenMs, freshMs) * 0.5);

    const mails = await mailsToOn(server, owner);
    expect(mails).toHaveLength(before + 1);
    const note = mails.at(-1)!;
    expect(note.kind).toBe("signup_attempt");
    expect(note.subject).toBe("Someone tried to sign up with your address");
    expect(note.links).toEqual(expect.arrayContaining([`${server.url}/login`, `${server.url}/forgot-password`]));
    expect(note.html).toContain(`${server.url}/forgot-password`);
    // The owner's account and password are untouched; the stranger's password opens nothing.
    expect((await new HttpClient(server.url).post("/login", { email: owner, password: "another-password-1" })).status).toBe(400);
    expect((await new HttpClient(server.url).post("/login", { email: owner, password: "owners-password-1" })).status).toBe(303);
    expect((await userOf(owner)).credits).toBe(10);
  });
});

describe("unverified accounts", () => {
  it("can log in and start a checkout, and see the banner with a resend button that works without JS", async () => {
    const { client } = await unverified("buyer");
    const page = await (await client.get("/generate")).text();
    expect(page).toContain("Confirm your e-mail address to get your 10 free credits.");
    expect(page).toMatch(/<form[^>]*method="post"[^>]*action="\/verify-email\/resend"/);
    const checkout = await client.post("/api/stripe/checkout", { pack: "default", token: "t-unverified" });
    expect(checkout.status).toBe(303);
    expect(checkout.headers.get("location")).toContain("/checkout/cs_");
  });
});

describe("ADMIN_EMAILS", () => {
  it("does nothing for an unverified listed address; verifying makes it admin at once", async () => {
    const client = new HttpClient(server.url);
    await client.signupUnverified("boss@example.com");
    expect((await userOf("boss@example.com")).role).toBe("user");
    expect((await client.get("/admin/credits")).status).toBe(403);
    await client.verifyEmail("boss@example.com");
    expect((await userOf("boss@example.com")).role).toBe("admin");
    expect((await client.get("/admin/credits")).status).toBe(200);
  });
});

describe("the admin user page", () => {
  it("shows the verification state and resends the mail with a real form, audited", async () => {
    const admin = new HttpClient(server.url);
    if (await userOf("boss@example.com")) await admin.login("boss@example.com");
    else await admin.signup("boss@example.com");
    const { email } = await unverified("admin-target");
    const { id } = await userOf(email);
    const page = await (await admin.get(`/admin/credits/${id}`)).text();
    expect(page).toContain("Not confirmed");
    expect(page).toContain('name="intent" value="resend_verification"');
    const res = await admin.post(`/admin/credits/${id}`, { intent: "resend_verification" });
    expect(res.status).toBe(303);
    expect(await mailsToOn(server, email, "verify_email")).toHaveLength(2);
    const audit = await db.all(`select action, actor_id as "actorId" from audit_log where target_user_id = ? order by id`, [id]);
    expect(audit).toEqual([{ action: "email.verification_resent", actorId: (await userOf("boss@example.com")).id }]);
    await new HttpClient(server.url).verifyEmail(email);
    expect(await (await admin.get(`/admin/credits/${id}`)).text()).toContain("Confirmed ");
    // Verified: nothing more is sent, nothing audited.
    await admin.post(`/admin/credits/${id}`, { intent: "resend_verification" });
    expect(await mailsToOn(server, email, "verify_email")).toHaveLength(2);
    expect(await db.get("select count(*) n from audit_log where target_user_id = ?", [id])).toEqual({ n: 1 });
    // Not for non-admins.
    const { client } = await unverified("not-admin");
    expect((await client.post(`/admin/credits/${id}`, { intent: "resend_verification" })).status).toBe(403);
  });
});
