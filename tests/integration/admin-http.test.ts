import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeDatabase, openDatabase, type AppDb } from "../../db/client.server";
import { freePort, HttpClient, startServer, type RunningServer } from "../support/server";

// The admin console over HTTP against the built app, like a browser without JavaScript: who may
// use it, every bad input answered 400 with nothing changed, double submits, and a refund that
// goes through Stripe (the emulator) and comes back as a clawback through the webhook.

let server: RunningServer;
let db: AppDb;
let emulatorUrl: string;
const admin = () => new HttpClient(server.url);
let adminClient: HttpClient;
let customerClient: HttpClient;
let customerId: number;
let counter = 0;

beforeAll(async () => {
  const emulatorPort = await freePort();
  server = await startServer({ ADMIN_EMAILS: "root@example.com", STRIPE_EMULATOR_PORT: String(emulatorPort) });
  emulatorUrl = `http://127.0.0.1:${emulatorPort}`;
  db = openDatabase(path.join(server.dataDir, "app.sqlite"));
  adminClient = admin();
  await adminClient.signup("root@example.com");
  ({ client: customerClient, id: customerId } = await newCustomer());
});
afterAll(async () => {
  if (db) closeDatabase(db);
  await server?.stop();
});

async function newCustomer() {
  const client = new HttpClient(server.url);
  const email = `customer${++counter}@example.com`;
  await client.signup(email);
  const { id } = db.sqlite.prepare("select id from users where email = ?").get(email) as { id: number };
  return { client, email, id };
}

function balance(userId: number): number {
  return (db.sqlite.prepare("select credits from users where id = ?").get(userId) as { credits: number }).credits;
}
function auditRows(userId: number): number {
  return (db.sqlite.prepare("select count(*) as n from audit_log where target_user_id = ?").get(userId) as { n: number }).n;
}
function token(): string {
  return `tok${Date.now()}${Math.random().toString(36).slice(2)}`.padEnd(20, "x").slice(0, 40);
}
function adjustForm(fields: Partial<Record<"amount" | "type" | "reason" | "token" | "confirmLarge", string>>) {
  return { intent: "adjust", token: token(), amount: "25", type: "bonus", reason: "Support ticket 42", ...fields };
}

async function until<T>(what: string, probe: () => T | Promise<T>, ok: (v: T) => boolean, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (ok(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last value ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("who may use the console", () => {
  const pages = ["/admin/credits", "/admin/credits/1", "/admin/credits/audit", "/admin/credits/overview"];

  it("sends anonymous visitors to log in, pages and posts alike", async () => {
    const anon = new HttpClient(server.url);
    for (const p of pages) {
      const res = await anon.get(p);
      expect(res.status, p).toBe(303);
      expect(res.headers.get("location")).toBe(`/login?${new URLSearchParams({ redirectTo: p })}`);
    }
    const post = await anon.post(`/admin/credits/${customerId}`, adjustForm({}));
    expect(post.status).toBe(303);
    expect(balance(customerId)).toBe(10);
  });

  it("answers 403 to a customer, including each nested loader's own data request and the action", async () => {
    for (const p of pages) expect((await customerClient.get(p)).status, p).toBe(403);
    // Remix fetches each route's data separately on client navigation: every loader checks.
    const data = [
      "/admin/credits?_data=routes%2Fadmin.credits._index",
      "/admin/credits?_data=routes%2Fadmin.credits",
      `/admin/credits/${customerId}?_data=routes%2Fadmin.credits.%24userId`,
      "/admin/credits/audit?_data=routes%2Fadmin.credits.audit",
      "/admin/credits/overview?_data=routes%2Fadmin.credits.overview",
    ];
    for (const p of data) expect((await customerClient.get(p)).status, p).toBe(403);
    const post = await customerClient.post(`/admin/credits/${customerId}`, adjustForm({ amount: "1000" }));
    expect(post.status).toBe(403);
    expect(balance(customerId)).toBe(10);
    expect(auditRows(customerId)).toBe(0);
  });

  it("serves every page to the admin", async () => {
    for (const p of pages) expect((await adminClient.get(p)).status, p).toBe(200);
    expect((await adminClient.get("/admin/credits/999999")).status).toBe(404);
    expect((await adminClient.get("/admin/credits?q=customer&sort=credits&dir=asc&after=junk")).status).toBe(200);
  });
});

describe("bad input: 400, a clear message, nothing changed", () => {
  const cases: Array<[string, Record<string, string>, string]> = [
    ["letters", { amount: "abc" }, "Enter a whole number of credits"],
    ["a decimal", { amount: "1.5" }, "Enter a whole number of credits"],
    ["an exponent", { amount: "1e3" }, "Enter a whole number of credits"],
    ["zero", { amount: "0" }, "The amount cannot be zero."],
    ["an absurd amount", { amount: "99999999999" }, "At most 1,000,000 credits in one change."],
    ["an empty amount", { amount: "" }, "Enter an amount of credits"],
    ["no reason", { reason: "" }, "A reason is required"],
    ["a blank reason", { reason: "   " }, "A reason is required"],
    ["an unknown type", { type: "gift" }, "Choose a bonus (adds credits) or an adjustment"],
    ["a negative bonus", { amount: "-5", type: "bonus" }, "A bonus adds credits"],
    ["no token", { token: "" }, "This form has expired"],
    ["an unconfirmed large change", { amount: "1001" }, "This is a large change: tick to confirm."],
    ["a removal below zero", { amount: "-11", type: "adjustment" }, "The balance is 10 credits: removing 11 would take it below zero."],
  ];
  for (const [what, fields, message] of cases) {
    it(`refuses ${what}`, async () => {
      const res = await adminClient.post(`/admin/credits/${customerId}`, adjustForm(fields));
      expect(res.status).toBe(400);
      expect((await res.text()).replace(/&#x27;|&#39;/g, "'").replace(/&quot;/g, '"')).toContain(message);
      expect(balance(customerId)).toBe(10);
      expect(auditRows(customerId)).toBe(0);
    });
  }

  it("refuses an unknown user, and an id that is not a number", async () => {
    for (const id of ["999999", "abc", "0", "1.5"]) {
      const res = await adminClient.post(`/admin/credits/${id}`, adjustForm({}));
      expect(res.status, id).toBe(400);
      expect(await res.text()).toContain(`No user with id ${id}: nothing was changed.`);
    }
    expect((db.sqlite.prepare("select count(*) as n from audit_log").get() as { n: number }).n).toBe(0);
  });
});

describe("changes", () => {
  it("applies a confirmed large change, and a double submit (even concurrent) once", async () => {
    const { id } = await newCustomer();
    const large = await adminClient.post(`/admin/credits/${id}`, adjustForm({ amount: "1500", confirmLarge: "on" }));
    expect(large.status).toBe(303);
    expect(large.headers.get("location")).toBe(`/admin/credits/${id}`);
    expect(balance(id)).toBe(1510);

    const form = adjustForm({ amount: "-200", type: "adjustment", reason: "Chargeback risk" });
    const results = await Promise.all([1, 2, 3].map(() => adminClient.post(`/admin/credits/${id}`, form)));
    expect(results.map((r) => r.status)).toEqual([303, 303, 303]);
    expect(balance(id)).toBe(1310);
    expect(auditRows(id)).toBe(2);
    const page = await (await adminClient.get(`/admin/credits/${id}`)).text();
    expect(page).toContain("Chargeback risk");

    // The same token for another change is refused.
    const reused = await adminClient.post(`/admin/credits/${id}`, { ...form, amount: "-300" });
    expect(reused.status).toBe(400);
    expect(await reused.text()).toContain("This form was already used for a different change.");
    expect(balance(id)).toBe(1310);

    const audit = db.sqlite
      .prepare("select actor_id as actorId, action, reason, details from audit_log where target_user_id = ? order by id")
      .all(id) as Array<{ actorId: number; action: string; reason: string; details: string }>;
    const rootId = (db.sqlite.prepare("select id from users where email = 'root@example.com'").get() as { id: number }).id;
    expect(audit.map((a) => [a.actorId, a.action, a.reason])).toEqual([
      [rootId, "credits.adjust", "Support ticket 42"],
      [rootId, "credits.adjust", "Chargeback risk"],
    ]);
    expect(JSON.parse(audit[1].details)).toMatchObject({ amount: -200, type: "adjustment", balanceAfter: 1310 });
  });
});

describe("refunds through Stripe", () => {
  async function buy(client: HttpClient): Promise<number> {
    const res = await client.post("/api/stripe/checkout", { pack: "default" }, { headers: { Accept: "application/json" } });
    const session = (await res.json()) as { id: string };
    const paid = await fetch(`${emulatorUrl}/__emulator/checkout/sessions/${session.id}/pay`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ outcome: "paid" }),
    });
    expect(paid.ok).toBe(true);
    const row = await until(
      "the purchase",
      () => db.sqlite.prepare("select id from transactions where idempotency_key = ?").get(`checkout:${session.id}`) as { id: number } | undefined,
      (r) => r !== undefined,
    );
    return row!.id;
  }

  it("requests the refund once; the credits come back only with Stripe's webhook", async () => {
    const { client, id } = await newCustomer();
    const purchaseId = await buy(client);
    expect(balance(id)).toBe(510);
    const form = { intent: "refund", token: token(), transactionId: String(purchaseId), reason: "Customer asked" };
    const first = await adminClient.post(`/admin/credits/${id}`, form);
    expect(first.status).toBe(303);
    const second = await adminClient.post(`/admin/credits/${id}`, form);
    expect(second.status).toBe(303);
    const page = await (await adminClient.get(`/admin/credits/${id}`)).text();
    expect(page).toContain("This refund was already requested");
    expect(page).toContain("credits are taken back when Stripe confirms");

    await until("the clawback", () => balance(id), (b) => b === 10);
    expect(auditRows(id)).toBe(1);
    const refunds = db.sqlite.prepare("select count(*) as n from transactions where user_id = ? and type = 'refund'").get(id);
    expect(refunds).toEqual({ n: 1 });

    // Fully refunded: another request (new token) is refused and changes nothing.
    const again = await adminClient.post(`/admin/credits/${id}`, { ...form, token: token() });
    expect(again.status).toBe(400);
    expect(await again.text()).toContain("already refunded in full");
    expect(auditRows(id)).toBe(1);
  });

  it("refuses a refund of another user's purchase or of a non-purchase, and a missing reason", async () => {
    const buyer = await newCustomer();
    const purchaseId = await buy(buyer.client);
    const other = await newCustomer();
    const bonus = db.sqlite.prepare("select id from transactions where user_id = ? and type = 'bonus'").get(other.id) as { id: number };
    for (const [userId, transactionId, reason, message] of [
      [other.id, purchaseId, "Wrong user", "is not a Stripe purchase of this user"],
      [other.id, bonus.id, "Not a purchase", "is not a Stripe purchase of this user"],
      [buyer.id, purchaseId, "", "A reason is required"],
    ] as const) {
      const res = await adminClient.post(`/admin/credits/${userId}`, { intent: "refund", token: token(), transactionId: String(transactionId), reason });
      expect(res.status).toBe(400);
      expect(await res.text()).toContain(message);
    }
    expect(balance(buyer.id)).toBe(510);
    expect(auditRows(buyer.id) + auditRows(other.id)).toBe(0);
  });
});

describe("overview", () => {
  it("lists only the days with activity, and says how many were quiet", async () => {
    const html = await (await adminClient.get("/admin/credits/overview")).text();
    const rows = html.slice(html.indexOf('data-testid="overview-days"')).split("</table>")[0].match(/<th scope="row"/g) ?? [];
    // Sign-ups today at least (bonuses given); the test server has no older history.
    expect(rows.length).toBe(1);
    expect(html).toContain("the other 29 of the last 30 days had none");
  });
});
