import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeDatabase, openDatabase, type AppDb } from "../../db/client.server";
import { HttpClient, startServer, type RunningServer } from "../support/server";

// /pricing over HTTP against the built app, with a catalogue of its own: every figure on the page
// is the config's (credits, rollover caps, lifetimes, costs) or Stripe's (prices: the emulator
// charges 1 cent a credit for a pack, 80% of that a month for a plan). The expected numbers are
// worked out by hand below, not by the code under test.

const PLANS = [
  { id: "basic", name: "Basic", priceId: "price_basic_monthly", credits: 300, rolloverCap: 100 },
  { id: "team", name: "Team", priceId: "price_team_monthly", credits: 12_000 },
];
const PACKS = [{ id: "trial", priceId: "price_trial_pack", credits: 120, name: "Trial pack", expiresAfter: "90d" }];

let server: RunningServer;
let db: AppDb;
let counter = 0;

beforeAll(async () => {
  server = await startServer({
    CREDIT_PLANS: JSON.stringify(PLANS),
    CREDIT_PACKS: JSON.stringify(PACKS),
    CREDITS_PER_PACK: "700",
    IMAGE_COST: "3",
    VIDEO_COST: "40",
    VIDEO_COST_1080P: "100",
    VIDEO_COST_SECONDS: "10",
    SIGNUP_BONUS_CREDITS: "25",
    SIGNUP_BONUS_EXPIRES_AFTER: "36h",
  });
  db = openDatabase(path.join(server.dataDir, "app.sqlite"));
});
afterAll(async () => {
  if (db) closeDatabase(db);
  await server?.stop();
});

/** The page's words as a reader sees them: no tags, React's text markers or entities. */
function textOf(html: string): string {
  return html
    .replace(/<script[\s\S]*?<\/script>/g, " ")
    .replace(/<[^>]+>/g, " ")
    .replace(/&#x27;/g, "'")
    .replace(/&amp;/g, "&")
    .replace(/\s+/g, " ")
    .replace(/ ([,.)])/g, "$1")
    .replace(/\( /g, "(");
}

/** The HTML of one plan's or pack's card. */
function card(html: string, kind: "plan" | "pack", id: string): string {
  const match = new RegExp(`<li[^>]*data-${kind}="${id}"[^>]*>([\\s\\S]*?)</li>`).exec(html);
  if (!match) throw new Error(`no ${kind} card ${id}`);
  return match[1]!;
}

async function customer() {
  const client = new HttpClient(server.url);
  const email = `pricing${++counter}@example.com`;
  await client.signup(email);
  const { id } = db.sqlite.prepare("select id from users where email = ?").get(email) as { id: number };
  return { client, id };
}

describe("/pricing for a visitor", () => {
  it("answers 200 without a login and is never cached", async () => {
    const res = await fetch(`${server.url}/pricing`);
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("private, no-store");
  });

  it.each([
    ["Basic", "basic", ["$2.40 per month", "300 credits every month", "≈ 100 images or 75 seconds of 720p video (30 s at 1080p)", "up to 100 unspent credits roll over"]],
    ["Team", "team", ["$96.00 per month", "12,000 credits every month", "≈ 4,000 images or 3,000 seconds of 720p video (1,200 s at 1080p)", "Unspent credits end with the month: nothing rolls over."]],
  ])("shows the %s plan as configured", async (name, id, expected) => {
    const html = await (await fetch(`${server.url}/pricing`)).text();
    const text = textOf(card(html, "plan", id));
    expect(text).toContain(name);
    for (const words of expected) expect(text).toContain(words);
  });

  it.each([
    ["default", ["700 credits", "$7.00 once", "≈ 233 images or 175 seconds of 720p video (70 s at 1080p)", "These credits never expire."]],
    ["trial", ["Trial pack", "$1.20 once", "120 credits", "≈ 40 images or 30 seconds of 720p video (12 s at 1080p)", "These credits expire 90 days after purchase."]],
  ])("shows the %s pack as configured", async (id, expected) => {
    const text = textOf(card(await (await fetch(`${server.url}/pricing`)).text(), "pack", id));
    for (const words of expected) expect(text).toContain(words);
  });

  it("says what a credit buys: images at IMAGE_COST, video by length at both resolutions", async () => {
    const html = await (await fetch(`${server.url}/pricing`)).text();
    const text = textOf(html);
    expect(text).toContain("An image costs 3 credits");
    const table = /<table[^>]*data-testid="video-costs"[^>]*>([\s\S]*?)<\/table>/.exec(html)![1]!;
    const rows = [...table.matchAll(/<tr[^>]*>([\s\S]*?)<\/tr>/g)].slice(1).map((m) => textOf(m[1]!).trim());
    // VIDEO_COST (40) is 10 s of 720p, VIDEO_COST_1080P (100) 10 s of 1080p; other lengths pro rata, rounded up.
    expect(rows).toEqual([
      "1 s 4 credits 10 credits",
      "4 s 16 credits 40 credits",
      "10 s 40 credits 100 credits",
      "12 s 48 credits 120 credits",
      "20 s 80 credits 200 credits",
    ]);
  });

  it("explains expiry: plan periods and rollover, packs, the sign-up bonus's lifetime, redeem codes, spending order", async () => {
    const text = textOf(await (await fetch(`${server.url}/pricing`)).text());
    expect(text).toContain("Plan credits last until the end of the period they pay for.");
    expect(text).toContain("Pack credits never expire, unless the pack says otherwise.");
    expect(text).toContain("The sign-up bonus (25 credits, when you confirm your e-mail address) expires 36 hours after it arrives.");
    expect(text).toContain("Credits from a redeem code last as long as the code says.");
    expect(text).toContain("Spending takes the credits that expire soonest first");
  });

  it.each([
    "",
    "?redirectTo=https://evil.example",
    "?redirectTo=//evil.example",
    "?returnTo=%2F%2Fevil.example",
    "?redirectTo=/settings/billing",
    "?plan=team&pack=trial",
  ])("offers sign-up links that return to /pricing only, whatever the query (%s)", async (query) => {
    const res = await fetch(`${server.url}/pricing${query}`);
    expect(res.status).toBe(200);
    const html = await res.text();
    const links = [...html.matchAll(/href="(\/(?:signup|login)[^"]*)"/g)].map((m) => m[1]!.replace(/&amp;/g, "&"));
    expect(links).toEqual(expect.arrayContaining(["/signup?redirectTo=%2Fpricing", "/login?redirectTo=%2Fpricing"]));
    for (const link of links) expect(["/signup", "/login", "/signup?redirectTo=%2Fpricing", "/login?redirectTo=%2Fpricing"]).toContain(link);
    expect(html).not.toContain("evil.example\"");
    // One sign-up button per plan and pack (two each), and no checkout form for a visitor.
    expect(html.match(/aria-label="Sign up to (subscribe to|buy) /g)).toHaveLength(4);
    expect(html).not.toContain('action="/api/stripe/checkout"');
  });

  it("is linked from the landing page and the nav", async () => {
    const html = await (await fetch(`${server.url}/`)).text();
    expect(html.match(/href="\/pricing"/g)?.length).toBeGreaterThanOrEqual(2);
  });
});

describe("/pricing for a signed-in customer", () => {
  it("has a checkout form per plan and per pack, with one token per page view", async () => {
    const { client } = await customer();
    const html = await (await client.get("/pricing")).text();
    expect(html).not.toMatch(/aria-label="Sign up to/);
    const forms = [...html.matchAll(/<form[^>]*action="\/api\/stripe\/checkout"[^>]*>([\s\S]*?)<\/form>/g)].map((m) => m[1]!);
    const fields = forms.map((f) => Object.fromEntries([...f.matchAll(/name="(\w+)" value="([^"]*)"/g)].map((m) => [m[1], m[2]])));
    expect(fields.map((f) => f.plan ?? `pack:${f.pack}`)).toEqual(["basic", "team", "pack:default", "pack:trial"]);
    const tokens = new Set(fields.map((f) => f.token));
    expect(tokens.size).toBe(1);
    expect([...tokens][0]).toMatch(/^[A-Za-z0-9_-]{16}$/);
    const again = await (await client.get("/pricing")).text();
    expect(again).not.toContain([...tokens][0]);
    expect(html).toContain('aria-label="Subscribe to Basic"');
    expect(html).toContain('aria-label="Buy Trial pack"');
  });

  it("a subscriber sees their plan instead of a second Subscribe; an ended subscription offers them again", async () => {
    const { client, id } = await customer();
    const insert = db.sqlite.prepare(
      `insert into subscriptions (id, user_id, stripe_customer_id, plan_id, price_id, status, current_period_end)
       values (?, ?, 'cus_test', 'team', 'price_team_monthly', ?, ?)`,
    );
    insert.run(`sub_live_${id}`, id, "active", Date.now() + 30 * 86_400_000);
    let html = await (await client.get("/pricing")).text();
    expect(textOf(card(html, "plan", "team"))).toContain("Your plan. Manage it on the billing page");
    expect(html).not.toMatch(/name="plan"/);
    expect(html.match(/name="pack"/g)).toHaveLength(2); // packs can still be bought

    db.sqlite.prepare("update subscriptions set status = 'canceled' where id = ?").run(`sub_live_${id}`);
    html = await (await client.get("/pricing")).text();
    expect(html.match(/name="plan"/g)).toHaveLength(2);
  });

  it("an account on hold sees why, with every checkout button disabled", async () => {
    const { client, id } = await customer();
    db.sqlite.prepare("update users set flagged_at = ? where id = ?").run(Date.now(), id);
    const html = await (await client.get("/pricing")).text();
    expect(textOf(html)).toContain("This account is on hold because of a disputed payment.");
    const buttons = [...html.matchAll(/<button type="submit" class="btn-primary"([^>]*)>/g)].map((m) => m[1]!);
    expect(buttons).toHaveLength(4);
    for (const attrs of buttons) expect(attrs).toContain("disabled");
  });
});
