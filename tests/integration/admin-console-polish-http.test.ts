import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeDatabase, openDatabase, type AppDb } from "../../db/client.server";
import { createKey, withKey } from "./api-keys-support";
import { HttpClient, startServer, type RunningServer } from "../support/server";

// Decision 032 over HTTP against the built app, as a browser without JavaScript sends it:
// the large-change confirmation (the server alone decides; a small change applies directly, a
// large one comes back with the box to tick and changes nothing until it is ticked), and an
// admin's view of a user's generations with the result file served to admins (session) only.

let server: RunningServer;
let db: AppDb;
let admin: HttpClient;
let counter = 0;

beforeAll(async () => {
  server = await startServer({ ADMIN_EMAILS: "root@example.com", SIGNUP_BONUS_CREDITS: "10", IMAGE_COST: "5" });
  db = openDatabase(path.join(server.dataDir, "app.sqlite"));
  admin = new HttpClient(server.url);
  await admin.signup("root@example.com");
});
afterAll(async () => {
  if (db) closeDatabase(db);
  await server?.stop();
});

async function newCustomer() {
  const client = new HttpClient(server.url);
  const email = `polish${++counter}-${Date.now()}@example.com`;
  await client.signup(email);
  const { id } = db.sqlite.prepare("select id from users where email = ?").get(email) as { id: number };
  return { client, email, id };
}

const balance = (userId: number) => (db.sqlite.prepare("select credits from users where id = ?").get(userId) as { credits: number }).credits;
const auditRows = (userId: number) =>
  (db.sqlite.prepare("select count(*) as n from audit_log where target_user_id = ?").get(userId) as { n: number }).n;
const token = () => `tok${Date.now()}${Math.random().toString(36).slice(2)}`.padEnd(20, "x").slice(0, 40);

/** Every <input> of the page, as attribute maps (React may write attributes in any order). */
function inputs(html: string): Array<Record<string, string>> {
  return [...html.matchAll(/<input\b([^>]*)>/g)].map((m) =>
    Object.fromEntries([...m[1].matchAll(/([\w-]+)(?:="([^"]*)")?/g)].map((a) => [a[1], a[2] ?? ""])),
  );
}
const decode = (html: string) => html.replace(/&#x27;|&#39;/g, "'").replace(/&quot;/g, '"').replace(/&amp;/g, "&");
/** The generations table of an admin's user page, with React's text separators removed. */
function generationsTable(html: string): string {
  const start = html.indexOf('data-testid="admin-generations"');
  expect(start).toBeGreaterThan(-1);
  return html.slice(start, html.indexOf("</table>", start)).replace(/<!-- -->/g, "");
}

describe("the large-change confirmation, without JavaScript", () => {
  it("a fresh form has no confirmation box at all", async () => {
    const { id } = await newCustomer();
    const html = await (await admin.get(`/admin/credits/${id}`)).text();
    expect(inputs(html).filter((i) => i.name === "confirmLarge")).toEqual([]);
    expect(html).not.toContain("I confirm this large change");
  });

  // Each amount as typed, sent without the box ticked, from a balance of 5,010; what must happen.
  // The rule: more than 1,000 credits either way needs the box (LARGE_ADJUSTMENT).
  // `confirm`: the answer shows the box (the amount typed is large, whatever else is wrong with it).
  type Outcome = { applied: number } | { refused: string; confirm?: true };
  const table: Array<[typed: string, type: "bonus" | "adjustment", outcome: Outcome]> = [
    ["999", "bonus", { applied: 999 }],
    ["1000", "bonus", { applied: 1000 }],
    ["1001", "bonus", { refused: "This is a large change: tick to confirm.", confirm: true }],
    ["+1001", "bonus", { refused: "This is a large change: tick to confirm.", confirm: true }],
    ["-999", "adjustment", { applied: -999 }],
    ["-1000", "adjustment", { applied: -1000 }],
    ["-1001", "adjustment", { refused: "This is a large change: tick to confirm.", confirm: true }],
    ["1000000", "bonus", { refused: "This is a large change: tick to confirm.", confirm: true }],
    ["1000001", "bonus", { refused: "At most 1,000,000 credits in one change.", confirm: true }],
    ["99999999999999999999", "bonus", { refused: "Enter a whole number of credits" }],
    ["0", "bonus", { refused: "The amount cannot be zero." }],
    ["-0", "adjustment", { refused: "The amount cannot be zero." }],
    ["abc", "bonus", { refused: "Enter a whole number of credits" }],
    ["1e3", "bonus", { refused: "Enter a whole number of credits" }],
    ["1001.0", "bonus", { refused: "Enter a whole number of credits" }],
    ["1,001", "bonus", { refused: "Enter a whole number of credits" }],
    ["0x3e9", "bonus", { refused: "Enter a whole number of credits" }],
    ["", "bonus", { refused: "Enter an amount of credits" }],
    [" 5", "bonus", { applied: 5 }],
    ["\t5\t", "bonus", { applied: 5 }],
    ["\t1001 ", "bonus", { refused: "This is a large change: tick to confirm.", confirm: true }],
    ["10\t01", "bonus", { refused: "Enter a whole number of credits" }],
  ];

  for (const [typed, type, outcome] of table) {
    it(`${JSON.stringify(typed)} (${type}) ${"applied" in outcome ? `applies ${outcome.applied}` : "changes nothing"}`, async () => {
      const { id } = await newCustomer();
      const seed = await admin.post(`/admin/credits/${id}`, { intent: "adjust", token: token(), amount: "5000", type: "bonus", reason: "Seed", confirmLarge: "on" });
      expect(seed.status).toBe(303);
      expect(balance(id)).toBe(5010);
      const audits = auditRows(id);
      const reason = `Case ${JSON.stringify(typed)}`;
      const res = await admin.post(`/admin/credits/${id}`, { intent: "adjust", token: token(), amount: typed, type, reason });
      if ("applied" in outcome) {
        expect(res.status).toBe(303);
        expect(balance(id)).toBe(5010 + outcome.applied);
        expect(auditRows(id)).toBe(audits + 1);
        return;
      }
      expect(res.status).toBe(400);
      const html = decode(await res.text());
      expect(html).toContain(outcome.refused);
      expect(balance(id)).toBe(5010);
      expect(auditRows(id)).toBe(audits);
      const boxes = inputs(html).filter((i) => i.name === "confirmLarge");
      if (outcome.confirm) {
        // The form again, with what was typed, and now the box: unticked, asking for it.
        expect(boxes).toHaveLength(1);
        expect(boxes[0]).toMatchObject({ type: "checkbox" });
        expect(boxes[0]).not.toHaveProperty("checked");
        expect(inputs(html).find((i) => i.name === "amount")?.value?.trim()).toBe(typed.trim());
        expect(html).toContain(reason);
        expect(html).toContain("I confirm this large change");
      } else {
        expect(boxes).toEqual([]);
      }
    });
  }

  it("the same large change with the box ticked is applied, once, however often it is sent", async () => {
    const { id } = await newCustomer();
    const refused = await admin.post(`/admin/credits/${id}`, { intent: "adjust", token: token(), amount: "2500", type: "bonus", reason: "Enterprise deal" });
    expect(refused.status).toBe(400);
    // The page it answered with carries a fresh token; tick the box and send it.
    const form = inputs(await refused.text());
    const fresh = form.find((i) => i.name === "token")!.value;
    const confirmed = { intent: "adjust", token: fresh, amount: "2500", type: "bonus", reason: "Enterprise deal", confirmLarge: "on" };
    expect((await admin.post(`/admin/credits/${id}`, confirmed)).status).toBe(303);
    expect((await admin.post(`/admin/credits/${id}`, confirmed)).status).toBe(303);
    expect(balance(id)).toBe(2510);
    expect(auditRows(id)).toBe(1);
    // And a large removal, confirmed.
    const removal = { intent: "adjust", token: token(), amount: "-1500", type: "adjustment", reason: "Chargeback", confirmLarge: "on" };
    expect((await admin.post(`/admin/credits/${id}`, removal)).status).toBe(303);
    expect(balance(id)).toBe(1010);
  });
});

describe("the redeem-code form's large-total box, without JavaScript", () => {
  const codes = () => (db.sqlite.prepare("select count(*) as n from redeem_codes").get() as { n: number }).n;
  const form = (credits: string, maxRedemptions: string, extra: Record<string, string> = {}) => ({
    intent: "create",
    token: token(),
    credits,
    maxRedemptions,
    ...extra,
  });

  it("a fresh form has no box; a small total is created directly", async () => {
    const html = await (await admin.get("/admin/credits/codes")).text();
    expect(inputs(html).filter((i) => i.name === "confirmLarge")).toEqual([]);
    const before = codes();
    // 10,000 in all is not more than the limit (LARGE_CODE_TOTAL).
    expect((await admin.post("/admin/credits/codes", form("1000", "10"))).status).toBe(303);
    expect(codes()).toBe(before + 1);
  });

  for (const [credits, times] of [
    ["1000", "11"],
    ["10001", "1"],
    [" 5001", "2 "],
  ]) {
    it(`${credits} × ${times} comes back with the box, and is created once ticked`, async () => {
      const before = codes();
      const res = await admin.post("/admin/credits/codes", form(credits, times));
      expect(res.status).toBe(400);
      const html = decode(await res.text());
      expect(html).toContain("tick the box to confirm");
      const fields = inputs(html);
      expect(fields.filter((i) => i.name === "confirmLarge")).toHaveLength(1);
      expect(fields.find((i) => i.name === "credits")?.value?.trim()).toBe(credits.trim());
      expect(codes()).toBe(before);
      expect((await admin.post("/admin/credits/codes", form(credits, times, { confirmLarge: "on" }))).status).toBe(303);
      expect(codes()).toBe(before + 1);
    });
  }

  it("a bad number shows no box (nothing to confirm yet)", async () => {
    const before = codes();
    const res = await admin.post("/admin/credits/codes", form("1e5", "3"));
    expect(res.status).toBe(400);
    expect(inputs(await res.text()).filter((i) => i.name === "confirmLarge")).toEqual([]);
    expect(codes()).toBe(before);
  });
});

describe("an admin sees a user's generations", () => {
  async function makeImage(client: HttpClient, prompt: string) {
    const res = await client.post("/api/generate-image", { prompt, size: "256x256" });
    expect(res.status).toBe(201);
    const { job } = (await res.json()) as { job: { id: string; status: string; resultUrl: string | null } };
    expect(job.status).toBe("succeeded");
    return job;
  }

  it("lists them on the user page (a deleted one marked, without a link) and counts them", async () => {
    const { client, id } = await newCustomer();
    const kept = await makeImage(client, "a lighthouse at dusk");
    const gone = await makeImage(client, "a fox <in> the snow");
    expect((await client.post("/generate", { intent: "delete", id: gone.id })).status).toBe(303);

    const html = generationsTable(await (await admin.get(`/admin/credits/${id}`)).text());
    expect(html).toContain("Showing all 2 generations");
    expect(html).toContain("a lighthouse at dusk");
    expect(html).toContain("a fox &lt;in&gt; the snow"); // escaped, never markup
    expect(html).toContain(`href="/generations/${kept.id}/file"`);
    expect(html).toContain(`data-generation-id="${gone.id}"`);
    expect(html).not.toContain(`/generations/${gone.id}/file`);
    expect(html).toMatch(/Deleted by the user \d{4}-\d{2}-\d{2}/);

    // Another user's page lists none of them.
    const other = await newCustomer();
    const otherHtml = generationsTable(await (await admin.get(`/admin/credits/${other.id}`)).text());
    expect(otherHtml).toContain("No generations yet.");
    expect(otherHtml).not.toContain(kept.id);
  });

  it("caps the list and says how many there are", async () => {
    const { client, id } = await newCustomer();
    await admin.post(`/admin/credits/${id}`, { intent: "adjust", token: token(), amount: "500", type: "bonus", reason: "For images" });
    for (let i = 0; i < 22; i++) await makeImage(client, `picture ${i}`);
    const html = generationsTable(await (await admin.get(`/admin/credits/${id}`)).text());
    expect(html).toContain("Showing the newest 20 of 22 generations");
    expect((html.match(/data-testid="admin-generation-row"/g) ?? []).length).toBe(20);
    expect(html).toContain("picture 21");
    expect(html).not.toContain("picture 1<");
  });

  it("serves the result file to its owner and to an admin; another user, logged out and an admin's API key get nothing", async () => {
    const owner = await newCustomer();
    const job = await makeImage(owner.client, "a red kite");
    const file = `/generations/${job.id}/file`;

    const mine = await owner.client.get(file);
    expect(mine.status).toBe(200);
    const bytes = Buffer.from(await mine.arrayBuffer());

    const asAdmin = await admin.get(file);
    expect(asAdmin.status).toBe(200);
    expect(asAdmin.headers.get("content-type")).toBe(mine.headers.get("content-type"));
    expect(Buffer.from(await asAdmin.arrayBuffer())).toEqual(bytes);
    expect((await admin.get(`${file}?download=1`)).headers.get("content-disposition")).toMatch(/^attachment/);

    const intruder = await newCustomer();
    const denied = await intruder.client.get(file);
    expect(denied.status).toBe(404);
    expect(await denied.text()).toBe("Not found");

    const anonymous = await new HttpClient(server.url).get(file);
    expect(anonymous.status).toBe(401);

    // An admin's API key is a program, not the console: it reads only the admin's own files.
    const key = await createKey(admin, "admin robot");
    expect((await withKey(server.url, key.key, file)).status).toBe(404);

    // Unknown and malformed ids, and a deleted result: 404 for the admin too.
    for (const bad of ["gen_000000000000000000000000", "nope", "..%2F..%2Fapp.sqlite"]) {
      expect((await admin.get(`/generations/${bad}/file`)).status, bad).toBe(404);
    }
    expect((await owner.client.post("/generate", { intent: "delete", id: job.id })).status).toBe(303);
    expect((await admin.get(file)).status).toBe(404);
  });
});
