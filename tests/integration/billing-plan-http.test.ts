import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeDatabase, openDatabase, type AppDb } from "../../db/client.server";
import { freePort, HttpClient, startServer, type RunningServer } from "../support/server";

// The billing page's Plan section and POST /settings/billing/portal ("Manage subscription") over
// HTTP against the built app and the emulator: what the section says for each state of a
// subscription, who may open the Customer Portal, and what a bad request changes (nothing: no
// portal session is created at Stripe, which the emulator's event log proves).

let server: RunningServer;
let db: AppDb;
let emulatorUrl: string;
let counter = 0;

beforeAll(async () => {
  const emulatorPort = await freePort();
  server = await startServer({ STRIPE_EMULATOR_PORT: String(emulatorPort) });
  emulatorUrl = `http://127.0.0.1:${emulatorPort}`;
  db = openDatabase(path.join(server.dataDir, "app.sqlite"));
});
afterAll(async () => {
  if (db) closeDatabase(db);
  await server?.stop();
});

const TOKEN = "abcdefgh12345678";

async function portalSessionsCreated(): Promise<number> {
  const res = await fetch(`${emulatorUrl}/__emulator/events?type=billing_portal.session.created&limit=100`);
  return ((await res.json()) as { data: unknown[] }).data.length;
}

async function newCustomer({ stripeCustomer }: { stripeCustomer: boolean }) {
  const client = new HttpClient(server.url);
  const email = `portal${++counter}@example.com`;
  await client.signup(email);
  // A checkout is what gives a user a Stripe Customer: start one (it need not be paid).
  if (stripeCustomer) expect((await client.post("/api/stripe/checkout", { pack: "default", token: `pack-${counter}` })).status).toBe(303);
  const row = db.sqlite.prepare("select id, stripe_customer_id as customer from users where email = ?").get(email) as { id: number; customer: string | null };
  expect(row.customer !== null).toBe(stripeCustomer);
  return { client, ...row };
}

/** Follows a 303 to the billing page and returns the toast it shows (consumed there). */
async function toastAfter(client: HttpClient, res: Response): Promise<string> {
  expect(res.status).toBe(303);
  expect(res.headers.get("location")).toBe("/settings/billing");
  const html = await (await client.get("/settings/billing")).text();
  return /data-testid="toast"[\s\S]*?<p[^>]*>([^<]*)</.exec(html)?.[1] ?? "";
}

describe("Manage subscription (POST /settings/billing/portal)", () => {
  it("sends an anonymous visitor to log in (then to the billing page), creating nothing", async () => {
    const before = await portalSessionsCreated();
    const res = await new HttpClient(server.url).post("/settings/billing/portal", { token: TOKEN });
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/login?redirectTo=%2Fsettings%2Fbilling");
    expect(await portalSessionsCreated()).toBe(before);
  });

  it.each([
    ["another site's Origin", { Origin: "https://evil.example" }],
    ["the opaque Origin null", { Origin: "null" }],
    ["another site's Referer", { Referer: "https://evil.example/page" }],
  ] as [string, { Origin?: string; Referer?: string }][])("refuses %s with 403, creating nothing", async (_, headers) => {
    const { client } = await newCustomer({ stripeCustomer: true });
    const before = await portalSessionsCreated();
    // HttpClient adds our own Origin to forms unless one is given; a Referer-only request sends none.
    const res =
      headers.Referer !== undefined
        ? await client.request("/settings/billing/portal", {
            method: "POST",
            body: new URLSearchParams({ token: TOKEN }).toString(),
            headers: { "Content-Type": "application/x-www-form-urlencoded", Referer: headers.Referer },
          })
        : await client.post("/settings/billing/portal", { token: TOKEN }, { headers: { Origin: headers.Origin ?? "" } });
    expect(res.status).toBe(403);
    expect(await portalSessionsCreated()).toBe(before);
  });

  it("tells a user who never reached checkout there is nothing to manage yet, creating nothing", async () => {
    const { client, customer } = await newCustomer({ stripeCustomer: false });
    const before = await portalSessionsCreated();
    const toast = await toastAfter(client, await client.post("/settings/billing/portal", { token: TOKEN }));
    expect(toast).toContain("There is no subscription or payment to manage yet");
    expect(await portalSessionsCreated()).toBe(before);
    // And no Customer was made for them on the way.
    expect(customer).toBeNull();
    expect(db.sqlite.prepare("select stripe_customer_id as c from users where email = ?").get(`portal${counter}@example.com`)).toEqual({ c: null });
  });

  it.each([
    ["no token", {}],
    ["an empty token", { token: "" }],
    ["a short token", { token: "abc" }],
    ["a long token", { token: "a".repeat(65) }],
    ["spaces", { token: "abcd efgh 1234" }],
    ["a key separator", { token: "abcdefgh:12345678" }],
    ["a newline", { token: "abcdefgh\n12345678" }],
    ["unicode", { token: "abcdéfgh12345678" }],
    ["markup", { token: "<script>alert(1)</script>" }],
  ])("refuses a form with %s: an error toast, no portal session", async (_, form) => {
    const { client } = await newCustomer({ stripeCustomer: true });
    const before = await portalSessionsCreated();
    const toast = await toastAfter(client, await client.post("/settings/billing/portal", form as Record<string, string>));
    expect(toast).toContain("That form has expired");
    expect(await portalSessionsCreated()).toBe(before);
  });

  it("opens the user's own Customer Portal (303 to the emulator's page), once per form token", async () => {
    const { client, customer } = await newCustomer({ stripeCustomer: true });
    const before = await portalSessionsCreated();
    const res = await client.post("/settings/billing/portal", { token: TOKEN });
    expect(res.status).toBe(303);
    const location = res.headers.get("location")!;
    expect(location).toMatch(new RegExp(`^${emulatorUrl}/portal/bps_[A-Za-z0-9]+$`));
    expect(await portalSessionsCreated()).toBe(before + 1);

    // A double-submitted form (same token) is the same session; a new page view (token) a new one.
    const again = await client.post("/settings/billing/portal", { token: TOKEN });
    expect(again.headers.get("location")).toBe(location);
    const other = await client.post("/settings/billing/portal", { token: "zyxwvuts98765432" });
    expect(other.headers.get("location")).not.toBe(location);
    expect(await portalSessionsCreated()).toBe(before + 2);

    // The session is for this user's Customer and comes back to the billing page.
    const { data } = (await (await fetch(`${emulatorUrl}/__emulator/events?type=billing_portal.session.created&limit=1`)).json()) as {
      data: { event: { data: { object: { customer: string; return_url: string } } } }[];
    };
    expect(data[0]!.event.data.object).toMatchObject({ customer, return_url: `${server.url}/settings/billing` });
    const page = await fetch(location);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain(`${server.url}/settings/billing`);
  });

  it("one token from two users opens each their own Customer's portal: keys are per user", async () => {
    const a = await newCustomer({ stripeCustomer: true });
    const b = await newCustomer({ stripeCustomer: true });
    const shared = "sharedtoken12345";
    const la = (await a.client.post("/settings/billing/portal", { token: shared })).headers.get("location");
    const lb = (await b.client.post("/settings/billing/portal", { token: shared })).headers.get("location");
    expect(la).not.toBe(lb);
    const { data } = (await (await fetch(`${emulatorUrl}/__emulator/events?type=billing_portal.session.created&limit=1`)).json()) as {
      data: { event: { data: { object: { customer: string } } } }[];
    };
    expect(data[0]!.event.data.object.customer).toBe(b.customer);
  });

  it("a GET goes back to the billing page", async () => {
    const { client } = await newCustomer({ stripeCustomer: true });
    const res = await client.get("/settings/billing/portal");
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/settings/billing");
  });
});

/** The words of the page's Plan section. */
async function planSection(client: HttpClient): Promise<string> {
  const html = await (await client.get("/settings/billing")).text();
  const section = /<section[^>]*data-testid="plan-section"[^>]*>([\s\S]*?)<\/section>/.exec(html)?.[1];
  if (!section) throw new Error("no plan section");
  return section;
}
const words = (html: string) => html.replace(/<[^>]+>/g, " ").replace(/&#x27;/g, "'").replace(/\s+/g, " ");

const DAY_MS = 86_400_000;
const dayOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);

function subscribe(userId: number, status: string, periodEnd: number, cancelAtPeriodEnd = false) {
  const id = `sub_${userId}_${status}`;
  db.sqlite
    .prepare(
      `insert into subscriptions (id, user_id, stripe_customer_id, plan_id, price_id, status, current_period_end, cancel_at_period_end)
       values (?, ?, 'cus_x', 'starter', 'price_plan_starter', ?, ?, ?)`,
    )
    .run(id, userId, status, periodEnd, cancelAtPeriodEnd ? 1 : 0);
  return id;
}

describe("the billing page's Plan section", () => {
  it("without a subscription offers each plan with a Subscribe form (and keeps the pack form)", async () => {
    const { client } = await newCustomer({ stripeCustomer: false });
    const section = await planSection(client);
    expect(words(section)).toContain("Starter");
    expect(words(section)).toContain("$8.00 per month");
    expect(words(section)).toContain("1,000 credits every month");
    expect(section.match(/name="plan" value="(\w+)"/g)).toEqual(['name="plan" value="starter"', 'name="plan" value="pro"']);
    expect(section).not.toContain("Manage subscription");
    const html = await (await client.get("/settings/billing")).text();
    expect(html).toContain('aria-label="Buy 500 credits"');
  });

  it.each([
    ["active, renewing", "active", false, "Active", "Renews on"],
    ["active, cancelled at period end", "active", true, "Active", "Ends on"],
    ["past due", "past_due", false, "Past due", "Renews on"],
  ])("%s: plan, status, date and Manage subscription; no Subscribe", async (_, status, cancel, label, when) => {
    const { client, id } = await newCustomer({ stripeCustomer: true });
    const end = Date.now() + 20 * DAY_MS;
    subscribe(id, status, end, cancel);
    const section = await planSection(client);
    const text = words(section);
    expect(text).toContain("Starter plan");
    expect(text).toContain(` ${label} `);
    expect(text).toContain(`${when} ${dayOf(end)}`);
    expect(section).toMatch(/<form[^>]*action="\/settings\/billing\/portal"[^>]*>[\s\S]*name="token" value="[A-Za-z0-9_-]{16}"[\s\S]*Manage subscription/);
    expect(section).not.toContain('name="plan"');
  });

  it("a failed renewal payment says so and what to do, until a later period is paid", async () => {
    const { client, id } = await newCustomer({ stripeCustomer: true });
    const sub = subscribe(id, "past_due", Date.now() + 3 * DAY_MS);
    const period = db.sqlite.prepare(
      `insert into subscription_periods (invoice_id, subscription_id, user_id, plan_id, status, period_start, period_end)
       values (?, ?, ?, 'starter', ?, ?, ?)`,
    );
    const start = Date.now();
    period.run(`in_failed_${id}`, sub, id, "failed", start, start + 30 * DAY_MS);
    let text = words(await planSection(client));
    expect(text).toContain("The payment for your plan failed on");
    expect(text).toContain("Open Manage subscription to update your card");

    period.run(`in_paid_${id}`, sub, id, "paid", start, start + 30 * DAY_MS);
    text = words(await planSection(client));
    expect(text).not.toContain("payment for your plan failed");
  });

  it("an ended subscription says so and offers the plans again", async () => {
    const { client, id } = await newCustomer({ stripeCustomer: true });
    subscribe(id, "canceled", Date.now() - DAY_MS);
    const section = await planSection(client);
    expect(words(section)).toContain("Your Starter plan has ended");
    expect(section.match(/name="plan"/g)).toHaveLength(2);
    expect(section).not.toContain("Manage subscription");
  });
});
