import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SqlDb } from "../../db/sql.server";
import { verifyServerLedger } from "../support/server-ledger";
import { HttpClient, startServer, type RunningServer } from "../support/server";
import { openServerSql } from "../support/server-sql";
import { createKey, withKey } from "./api-keys-support";

// Redeem codes over HTTP against the built app (decision 024): an admin creates codes with the
// real form, users redeem them with the billing form and POST /api/redeem. The count is never
// exceeded by parallel requests, a user redeems a code once however many requests race, every
// bad input is refused with nothing changed, guessing is rate-limited, and all of it is audited.

let server: RunningServer;
let db: SqlDb;
let admin: HttpClient;
let counter = 0;

beforeAll(async () => {
  server = await startServer({ ADMIN_EMAILS: "root@example.com", REDEEM_FAILURES_PER_USER: "10000", REDEEM_FAILURES_PER_IP: "100000" });
  db = openServerSql(server);
  admin = new HttpClient(server.url);
  await admin.signup("root@example.com");
});
afterAll(async () => {
  await db?.close();
  await server?.stop();
});

const one = async <T>(sql: string, ...args: unknown[]) => (await db.get<T>(sql, args)) as T;
const count = async (sql: string, ...args: unknown[]) => (await one<{ n: number }>(sql, ...args)).n;
/** Audit rows of an action about a code (details is JSON text: decoded here, as on either engine). */
const auditCount = async (action: string, codeId: number) =>
  (await db.all<{ details: string }>("select details from audit_log where action = ?", [action])).filter((r) => JSON.parse(r.details).codeId === codeId).length;
const token = () => `tok${Date.now()}${Math.random().toString(36).slice(2)}`.padEnd(24, "x").slice(0, 40);

async function customer(base = server.url): Promise<{ client: HttpClient; id: number }> {
  const client = new HttpClient(base);
  const email = `redeemer${++counter}-${process.pid}@example.com`;
  await client.signup(email);
  const { id } = await one<{ id: number }>("select id from users where email = ?", email);
  return { client, id };
}

type CodeRow = { id: number; code: string; credits: number; lifetime: number | null; max: number; used: number; until: number | null; disabledAt: number | null };
const CODE_SELECT = `select id, code, credits, credits_expire_after_ms AS "lifetime", max_redemptions AS "max", redemption_count AS "used",
  redeemable_until AS "until", disabled_at AS "disabledAt" from redeem_codes`;

function createForm(fields: Record<string, string> = {}) {
  return { intent: "create", token: token(), credits: "50", maxRedemptions: "3", creditsExpireAfter: "30d", ...fields };
}

/** Creates a code with the admin form; returns its row. */
async function createCode(fields: Record<string, string> = {}, client = admin): Promise<CodeRow> {
  const res = await client.post("/admin/credits/codes", createForm(fields));
  expect(res.status, await res.clone().text()).toBe(303);
  return await one<CodeRow>(`${CODE_SELECT} order by id desc limit 1`);
}

function redeemJson(client: HttpClient, body: unknown, headers: Record<string, string> = {}) {
  return client.request("/api/redeem", {
    method: "POST",
    headers: { "Content-Type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

const balance = async (userId: number) => (await one<{ credits: number }>("select credits from users where id = ?", userId)).credits;

describe("create → redeem → the ledger, the history, the audit log", () => {
  it("a code redeemed on the billing page is a redeem row with its expiry, in the history, audited, and the ledger verifies", async () => {
    const code = await createCode({ credits: "75", creditsExpireAfter: "30d", maxRedemptions: "2" });
    expect(code).toMatchObject({ credits: 75, lifetime: 30 * 86_400_000, max: 2, used: 0, until: null });
    expect(code.code).toMatch(/^[ABCDEFGHJKMNPQRSTVWXYZ2-9]{12}$/);
    const { client, id } = await customer();
    const shown = `${code.code.slice(0, 4)}-${code.code.slice(4, 8)}-${code.code.slice(8)}`;
    const before = Date.now();
    // As typed by a person: lower case, with the dashes.
    const res = await client.post("/settings/billing", { intent: "redeem", code: shown.toLowerCase() });
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/settings/billing");
    const tx = await one<{ id: number; type: string; amount: number; description: string }>("select id, type, amount, description from transactions where user_id = ? order by id desc limit 1", id);
    expect(tx).toMatchObject({ type: "redeem", amount: 75, description: `Redeemed code ${shown}` });
    const grant = await one<{ kind: string; expiresAt: number }>(`select kind, expires_at AS "expiresAt" from credit_grants where source_tx_id = ?`, tx.id);
    expect(grant.kind).toBe("redeem");
    expect(grant.expiresAt).toBeGreaterThanOrEqual(before + 30 * 86_400_000);
    expect(grant.expiresAt).toBeLessThanOrEqual(Date.now() + 30 * 86_400_000);
    expect(await balance(id)).toBe(85); // 10 sign-up bonus + 75
    const page = await (await client.get("/settings/billing")).text();
    const day = new Date(grant.expiresAt).toISOString().slice(0, 10);
    expect(page).toContain(`75 credits added (expire on ${day})`);
    expect(page).toContain("Redeemed code");
    expect(page).toContain(`Redeemed code ${shown}`);
    expect((await one<{ used: number }>("select redemption_count used from redeem_codes where id = ?", code.id)).used).toBe(1);
    expect(await count("select count(*) n from redemptions where code_id = ? and user_id = ? and tx_id = ?", code.id, id, tx.id)).toBe(1);
    // Audited: the creation (actor: the admin) and the redemption (actor: the user).
    const adminId = (await one<{ id: number }>("select id from users where email = 'root@example.com'")).id;
    const creations = (
      await db.all<{ actorId: number; details: string }>(`select actor_id AS "actorId", details from audit_log where action = 'redeem_code.create' order by id`)
    ).filter((r) => JSON.parse(r.details).codeId === code.id);
    const created = creations[0]!;
    expect(created.actorId).toBe(adminId);
    const redeemed = await one<{ actorId: number; target: number; details: string }>(`select actor_id AS "actorId", target_user_id AS "target", details from audit_log where action = 'redeem_code.redeem' and target_user_id = ?`, id);
    expect(redeemed).toMatchObject({ actorId: id, target: id });
    expect(JSON.parse(redeemed.details)).toMatchObject({ codeId: code.id, credits: 75, transactionId: tx.id });
    const audit = await (await admin.get(`/admin/credits/audit?user=${id}`)).text();
    expect(audit).toContain("Code redeemed");
    expect(audit).toContain(`Code ${shown} redeemed: +75 credits`);
    expect(await (await admin.get("/admin/credits/audit")).text()).toContain("Redeem code created");
    expect((await verifyServerLedger(server, { sweepGraceMs: 60_000 })).violations).toEqual([]);
  });

  it("POST /api/redeem answers the credits, their expiry and the balance; a code that never expires says null", async () => {
    const code = await createCode({ credits: "20", creditsExpireAfter: "never", code: "json-never-01" });
    expect(code).toMatchObject({ code: "JSONNEVER01", lifetime: null });
    const { client, id } = await customer();
    const res = await redeemJson(client, { code: " JSON never 01 " });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ code: "JSONNEVER01", credits: 20, expiresAt: null, balance: 30 });
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(await balance(id)).toBe(30);
  });

  it("an API key can redeem (it only adds credits); the audit row names the key", async () => {
    const code = await createCode({ credits: "5" });
    const { client, id } = await customer();
    const key = await createKey(client, "redeemer");
    const res = await withKey(server.url, key.key, "/api/redeem", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ code: code.code }) });
    expect(res.status).toBe(200);
    const details = JSON.parse((await one<{ details: string }>("select details from audit_log where action = 'redeem_code.redeem' and target_user_id = ?", id)).details);
    expect(details.apiKeyId).toBe(key.id);
    const anon = await fetch(`${server.url}/api/redeem`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ code: code.code }) });
    expect(anon.status).toBe(401);
  });
});

// Signing up 30 accounts (password hashing, the verification mail) takes a while on a busy machine.
describe("never past the count, once per user, whatever arrives in parallel", () => {
  it("a code with max 5 redeemed by 30 different users at once: exactly 5 successes, count 5, 5 grants", async () => {
    const code = await createCode({ credits: "7", maxRedemptions: "5" });
    const users = await Promise.all(Array.from({ length: 30 }, () => customer()));
    const answers = await Promise.all(users.map(({ client }) => redeemJson(client, { code: code.code })));
    const statuses = answers.map((r) => r.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(5);
    expect(statuses.filter((s) => s === 410)).toHaveLength(25);
    const errors = await Promise.all(answers.filter((r) => r.status === 410).map(async (r) => ((await r.json()) as { error: string }).error));
    expect(new Set(errors)).toEqual(new Set(["code_used_up"]));
    expect((await one<{ used: number }>("select redemption_count used from redeem_codes where id = ?", code.id)).used).toBe(5);
    expect(await count("select count(*) n from redemptions where code_id = ?", code.id)).toBe(5);
    expect(await count("select count(*) n from transactions where idempotency_key like ? and type = 'redeem'", `redeem:${code.id}:%`)).toBe(5);
    expect(await count("select count(*) n from credit_grants g join transactions t on t.id = g.source_tx_id where t.idempotency_key like ?", `redeem:${code.id}:%`)).toBe(5);
    expect(await auditCount("redeem_code.redeem", code.id)).toBe(5);
    const winners = users.filter((_, i) => statuses[i] === 200);
    for (const w of winners) expect(await balance(w.id)).toBe(17);
    expect((await verifyServerLedger(server, { sweepGraceMs: 60_000 })).violations).toEqual([]);
  }, 120_000);

  it("two server processes on the same database: 24 users at a 4-use code, split between them, still exactly 4", async () => {
    const second = await startServer({ ADMIN_EMAILS: "root@example.com", REDEEM_FAILURES_PER_USER: "10000", REDEEM_FAILURES_PER_IP: "100000" }, { dataDir: server.dataDir });
    try {
      const code = await createCode({ credits: "3", maxRedemptions: "4" });
      const users = await Promise.all(Array.from({ length: 24 }, () => customer()));
      // The same session works on both (sessions live in the database).
      const answers = await Promise.all(
        users.map(({ client }, i) => {
          const target = i % 2 ? new HttpClient(second.url) : client;
          if (i % 2) target.cookies = client.cookies;
          return redeemJson(target, { code: code.code });
        }),
      );
      const statuses = answers.map((r) => r.status);
      expect(statuses.filter((st) => st === 200)).toHaveLength(4);
      expect(statuses.filter((st) => st === 410)).toHaveLength(20);
      expect((await one<{ used: number }>("select redemption_count used from redeem_codes where id = ?", code.id)).used).toBe(4);
      expect(await count("select count(*) n from redemptions where code_id = ?", code.id)).toBe(4);
      expect(await count("select count(*) n from transactions where idempotency_key like ?", `redeem:${code.id}:%`)).toBe(4);
      expect((await verifyServerLedger(server, { sweepGraceMs: 60_000 })).violations).toEqual([]);
    } finally {
      await second.stop();
    }
  }, 120_000);

  it("one user firing 20 parallel redemptions of one code (JSON and form alike) gets it exactly once", async () => {
    const code = await createCode({ credits: "9", maxRedemptions: "100" });
    const { client, id } = await customer();
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => (i % 2 ? redeemJson(client, { code: code.code }) : client.post("/settings/billing", { intent: "redeem", code: code.code }))),
    );
    const ok = answers.filter((r) => r.status === 200 || r.status === 303);
    expect(ok).toHaveLength(1);
    expect(answers.filter((r) => r.status === 409)).toHaveLength(19);
    expect(await balance(id)).toBe(19);
    expect(await count("select count(*) n from redemptions where code_id = ?", code.id)).toBe(1);
    expect((await one<{ used: number }>("select redemption_count used from redeem_codes where id = ?", code.id)).used).toBe(1);
  });
});

describe("refusals: a clear answer, nothing changed", () => {
  async function refusedWith(client: HttpClient, userId: number, raw: string, status: number, error: string) {
    const before = { balance: await balance(userId), rows: await count("select count(*) n from redemptions") };
    const res = await redeemJson(client, { code: raw });
    const body = (await res.json()) as { error: string; message: string };
    expect([res.status, body.error]).toEqual([status, error]);
    const form = await client.post("/settings/billing", { intent: "redeem", code: raw });
    expect(form.status).toBe(status);
    const html = await form.text();
    expect(html).toContain(body.message.replace(/'/g, "&#x27;"));
    expect({ balance: await balance(userId), rows: await count("select count(*) n from redemptions") }).toEqual(before);
    return body;
  }

  it("expired, used up, disabled and unknown; disabled answers exactly like unknown", async () => {
    const { client, id } = await customer();
    const expired = await createCode({ redeemableUntil: "2099-01-01" });
    await db.run("update redeem_codes set redeemable_until = ? where id = ?", [Date.now() - 1000, expired.id]);
    await refusedWith(client, id, expired.code, 410, "code_expired");

    const usedUp = await createCode({ maxRedemptions: "1" });
    const other = await customer();
    expect((await redeemJson(other.client, { code: usedUp.code })).status).toBe(200);
    await refusedWith(client, id, usedUp.code, 410, "code_used_up");
    await refusedWith(other.client, other.id, usedUp.code, 409, "already_redeemed");

    const disabled = await createCode();
    const confirm = await admin.get(`/admin/credits/codes?disable=${disabled.id}`);
    expect(await confirm.text()).toContain("Disable the code");
    const off = await admin.post("/admin/credits/codes", { intent: "disable", codeId: String(disabled.id) });
    expect(off.status).toBe(303);
    expect((await one<CodeRow>(`${CODE_SELECT} where id = ?`, disabled.id)).disabledAt).not.toBeNull();
    expect(await auditCount("redeem_code.disable", disabled.id)).toBe(1);
    const again = await admin.post("/admin/credits/codes", { intent: "disable", codeId: String(disabled.id) });
    expect(again.status).toBe(400);
    expect(await auditCount("redeem_code.disable", disabled.id)).toBe(1);
    const asDisabled = await refusedWith(client, id, disabled.code, 404, "unknown_code");
    const asUnknown = await refusedWith(client, id, "NOSUCHCODE99", 404, "unknown_code");
    expect(asDisabled).toEqual(asUnknown);
  });

  it("an unverified account and an account on hold", async () => {
    const code = await createCode();
    const unverified = new HttpClient(server.url);
    const email = `unverified${++counter}@example.com`;
    await unverified.signupUnverified(email);
    const uid = (await one<{ id: number }>("select id from users where email = ?", email)).id;
    await refusedWith(unverified, uid, code.code, 403, "email_not_verified");
    const { client, id } = await customer();
    await db.run("update users set flagged_at = ?, flagged_reason = 'test' where id = ?", [Date.now(), id]);
    await refusedWith(client, id, code.code, 403, "account_on_hold");
  });

  const wildcard = "WILDCARD01";
  const hostile: Array<[string, unknown]> = [
    ["empty", ""],
    ["blank", "   "],
    ["10k characters", "A".repeat(10_000)],
    ["too short", "ABC"],
    ["a Cyrillic look-alike of a real code", "WILDCАRD01"],
    ["SQL", "' OR 1=1 --"],
    ["SQL in a code's shape", "WILDCARD01' --"],
    ["a % wildcard", "WILDCARD%"],
    ["a _ wildcard", "WILDCARD0_"],
    ["a NUL byte", "WILDCARD01\u0000"],
    ["a zero-width space", "WILDCARD\u200b01"],
    ["an emoji", "WILDCARD🎁"],
  ];
  for (const [what, raw] of hostile) {
    it(`refuses ${what} as a malformed code (JSON 422, form 400), nothing redeemed`, async () => {
      if (!(await count("select count(*) n from redeem_codes where code = ?", wildcard))) await createCode({ code: wildcard, credits: "5", maxRedemptions: "1000" });
      const { client, id } = await customer();
      const before = await balance(id);
      const res = await redeemJson(client, { code: raw });
      expect(res.status).toBe(422);
      expect(((await res.json()) as { error: string }).error).toBe("invalid_request");
      const form = await client.post("/settings/billing", { intent: "redeem", code: String(raw) });
      expect(form.status).toBe(400);
      expect(await form.text()).toMatch(/Enter a code\.|A code is 6 to 32 letters/);
      expect(await balance(id)).toBe(before);
      expect(await count("select count(*) n from redemptions where user_id = ?", id)).toBe(0);
    });
  }

  const badBodies: Array<[string, string, number, string]> = [
    ["an array", JSON.stringify(["WILDCARD01"]), 422, "invalid_request"],
    ["an object as the code", JSON.stringify({ code: { $ne: "" } }), 422, "invalid_request"],
    ["an array as the code", JSON.stringify({ code: ["WILDCARD01"] }), 422, "invalid_request"],
    ["a number as the code", JSON.stringify({ code: 12345678 }), 422, "invalid_request"],
    ["null", "null", 422, "invalid_request"],
    ["no code", "{}", 422, "invalid_request"],
    ["an extra field", JSON.stringify({ code: "WILDCARD01", userId: 1 }), 422, "invalid_request"],
    ["broken JSON", "{code:", 400, "invalid_json"],
  ];
  for (const [what, body, status, error] of badBodies) {
    it(`POST /api/redeem with ${what}: ${status} ${error}`, async () => {
      const { client, id } = await customer();
      const res = await redeemJson(client, body);
      expect([res.status, ((await res.json()) as { error: string }).error]).toEqual([status, error]);
      expect(await count("select count(*) n from redemptions where user_id = ?", id)).toBe(0);
    });
  }

  it("POST /api/redeem with a form body is 415; GET is 405", async () => {
    const { client } = await customer();
    expect((await client.request("/api/redeem", { method: "POST", headers: { "Content-Type": "text/plain" }, body: "x" })).status).toBe(415);
    expect((await client.get("/api/redeem")).status).toBe(405);
  });

  it("the same code in full-width letters redeems (Unicode compatibility forms fold)", async () => {
    const code = await createCode({ code: "FULLWIDTH77" });
    const { client } = await customer();
    const res = await redeemJson(client, { code: "ｆｕｌｌｗｉｄｔｈ７７" });
    expect(res.status).toBe(200);
    expect(code.code).toBe("FULLWIDTH77");
  });
});

describe("the admin form: every bad figure refused with its message, no code created", () => {
  const cases: Array<[string, Record<string, string>, string]> = [
    ["credits 0", { credits: "0" }, "must be between 1 and 100,000"],
    ["credits -1", { credits: "-1" }, "as a whole number"],
    ["credits 1e12", { credits: "1e12" }, "as a whole number"],
    ["credits 1000000000000", { credits: "1000000000000" }, "must be between 1 and 100,000"],
    ["credits 1.5", { credits: "1.5" }, "as a whole number"],
    ["credits abc", { credits: "abc" }, "as a whole number"],
    ["no credits", { credits: "" }, "Enter the credits per redemption"],
    ["max 0", { maxRedemptions: "0" }, "must be between 1 and 1,000,000"],
    ["max 2000000", { maxRedemptions: "2000000" }, "must be between 1 and 1,000,000"],
    ["until in the past", { redeemableUntil: "2020-01-01" }, "must be in the future"],
    ["until not a date", { redeemableUntil: "next friday" }, "a date like 2027-01-31"],
    ["until a day that does not exist", { redeemableUntil: "2099-02-30" }, "a date like 2027-01-31"],
    ["lifetime -5d", { creditsExpireAfter: "-5d" }, "Credits expire after: a duration like 30d"],
    ["lifetime 9999999d", { creditsExpireAfter: "9999999d" }, "Credits expire after: a duration like 30d"],
    ["lifetime 10s", { creditsExpireAfter: "10s" }, "at least 1h"],
    ["lifetime abc", { creditsExpireAfter: "abc" }, "Credits expire after: a duration like 30d"],
    ["a code too short", { code: "AB" }, "A code is 6 to 32 letters"],
    ["a code with symbols", { code: "FREE$$$$" }, "A code is 6 to 32 letters"],
    ["a large total unconfirmed", { credits: "1000", maxRedemptions: "11" }, "tick the box to confirm"],
    ["no token", { token: "" }, "This form has expired"],
  ];
  for (const [what, fields, message] of cases) {
    it(`refuses ${what}`, async () => {
      const before = await count("select count(*) n from redeem_codes");
      const res = await admin.post("/admin/credits/codes", createForm(fields));
      expect(res.status).toBe(400);
      expect(await res.text()).toContain(message.replace(/'/g, "&#x27;"));
      expect(await count("select count(*) n from redeem_codes")).toBe(before);
    });
  }

  it('lifetime "0" and "never" mean credits that never expire; a large total passes once confirmed', async () => {
    expect((await createCode({ creditsExpireAfter: "0" })).lifetime).toBeNull();
    expect((await createCode({ creditsExpireAfter: "never" })).lifetime).toBeNull();
    expect((await createCode({ credits: "1000", maxRedemptions: "11", confirmLarge: "on" })).credits).toBe(1000);
  });

  it("a code that exists already is refused on the code field; a double submit makes one code", async () => {
    await createCode({ code: "TAKEN-CODE-1" });
    const res = await admin.post("/admin/credits/codes", createForm({ code: "taken code 1" }));
    expect(res.status).toBe(400);
    expect(await res.text()).toContain("The code TAKENCODE1 already exists");
    const form = createForm();
    const before = await count("select count(*) n from redeem_codes");
    const [a, b] = await Promise.all([admin.post("/admin/credits/codes", form), admin.post("/admin/credits/codes", form)]);
    expect([a.status, b.status]).toEqual([303, 303]);
    expect(await count("select count(*) n from redeem_codes")).toBe(before + 1);
  });

  it("lists codes with used/max and status", async () => {
    const code = await createCode({ code: "LISTED-01", maxRedemptions: "4", redeemableUntil: "2099-12-31 18:00" });
    const { client } = await customer();
    await redeemJson(client, { code: code.code });
    const html = await (await admin.get("/admin/credits/codes")).text();
    const row = html.slice(html.indexOf('data-code="LISTED01"'));
    expect(row.slice(0, 2000)).toMatch(/1 \/ 4/);
    expect(row.slice(0, 2000)).toContain("2099-12-31 18:00");
    expect(row.slice(0, 2000)).toContain("Active");
  });
});

describe("who may manage codes", () => {
  it("anonymous → log in; a customer → 403 (page, data request and post); nothing created", async () => {
    const before = await count("select count(*) n from redeem_codes");
    const anon = new HttpClient(server.url);
    const page = await anon.get("/admin/credits/codes");
    expect(page.status).toBe(303);
    expect(page.headers.get("location")).toContain("/login");
    expect((await anon.post("/admin/credits/codes", createForm())).status).toBe(303);
    const { client } = await customer();
    expect((await client.get("/admin/credits/codes")).status).toBe(403);
    expect((await client.get("/admin/credits/codes?_data=routes%2Fadmin.credits.codes")).status).toBe(403);
    expect((await client.post("/admin/credits/codes", createForm())).status).toBe(403);
    const some = await one<{ id: number }>("select id from redeem_codes order by id desc limit 1");
    expect((await client.post("/admin/credits/codes", { intent: "disable", codeId: String(some.id) })).status).toBe(403);
    expect(await count("select count(*) n from redeem_codes")).toBe(before);
    expect((await one<CodeRow>(`${CODE_SELECT} where id = ?`, some.id)).disabledAt).toBeNull();
  });
});

describe("guessing codes is rate-limited, per account and per address", () => {
  let limited: RunningServer;
  beforeAll(async () => {
    limited = await startServer({ ADMIN_EMAILS: "root@example.com", REDEEM_FAILURES_PER_USER: "5", REDEEM_FAILURES_PER_IP: "8", TRUST_PROXY: "loopback" });
  });
  afterAll(async () => {
    await limited?.stop();
  });

  async function user() {
    const client = new HttpClient(limited.url);
    await client.signup(`limited${++counter}@example.com`);
    return client;
  }
  const from = (ip: string) => ({ "X-Forwarded-For": ip });

  it("20 parallel wrong codes of one user, each from another address: exactly 5 are looked up, 15 refused with Retry-After; then a right code is refused too", async () => {
    const client = await user();
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => redeemJson(client, { code: `WRONGCODE${i}` }, from(`10.1.0.${i + 1}`))));
    const statuses = answers.map((r) => r.status);
    expect(statuses.filter((s) => s === 404)).toHaveLength(5);
    expect(statuses.filter((s) => s === 429)).toHaveLength(15);
    const refused = answers.find((r) => r.status === 429)!;
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(((await refused.json()) as { error: string }).error).toBe("rate_limited");
    const adminClient = new HttpClient(limited.url);
    await adminClient.signup("root@example.com");
    expect((await adminClient.post("/admin/credits/codes", createForm({ code: "RIGHTCODE1" }))).status).toBe(303);
    expect((await redeemJson(client, { code: "RIGHTCODE1" }, from("10.9.9.9"))).status).toBe(429);
    expect((await client.post("/settings/billing", { intent: "redeem", code: "RIGHTCODE1" }, { headers: from("10.9.9.8") })).status).toBe(429);
  });

  it("4 users × 5 parallel wrong codes from one address: exactly 8 are looked up", async () => {
    const users = await Promise.all(Array.from({ length: 4 }, () => user()));
    const answers = await Promise.all(users.flatMap((c) => Array.from({ length: 5 }, (_, i) => redeemJson(c, { code: `GUESSCODE${i}` }, from("10.2.0.1")))));
    const statuses = answers.map((r) => r.status);
    expect(statuses.filter((s) => s === 404)).toHaveLength(8);
    expect(statuses.filter((s) => s === 429)).toHaveLength(12);
  }, 120_000);

  it("a code that works gives its try back: 4 wrong, 1 right, then 1 more wrong is still looked up, the next is refused", async () => {
    const adminClient = new HttpClient(limited.url);
    await adminClient.login("root@example.com");
    expect((await adminClient.post("/admin/credits/codes", createForm({ code: "GIVESBACK1" }))).status).toBe(303);
    const client = await user();
    const ip = from("10.3.0.1");
    for (let i = 0; i < 4; i++) expect((await redeemJson(client, { code: `NOPECODE${i}` }, ip)).status).toBe(404);
    expect((await redeemJson(client, { code: "GIVESBACK1" }, ip)).status).toBe(200);
    expect((await redeemJson(client, { code: "NOPECODE9" }, ip)).status).toBe(404);
    expect((await redeemJson(client, { code: "NOPECODE8" }, ip)).status).toBe(429);
  });
});
