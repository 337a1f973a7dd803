import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeDatabase, openDatabase, type AppDb } from "../../db/client.server";
import { HttpClient, startServer, type RunningServer } from "../support/server";

// An admin puts an account on hold or lifts a hold, with a reason, audited; a held account can
// neither buy nor generate. Over HTTP like a browser without JavaScript.

let server: RunningServer;
let db: AppDb;
let adminClient: HttpClient;
let n = 0;

beforeAll(async () => {
  server = await startServer({ ADMIN_EMAILS: "holds-admin@example.com" });
  db = openDatabase(path.join(server.dataDir, "app.sqlite"));
  adminClient = new HttpClient(server.url);
  await adminClient.signup("holds-admin@example.com");
});
afterAll(async () => {
  if (db) closeDatabase(db);
  await server?.stop();
});

async function customer() {
  const client = new HttpClient(server.url);
  const email = `held${++n}@example.com`;
  await client.signup(email);
  const { id } = db.sqlite.prepare("select id from users where email = ?").get(email) as { id: number };
  return { client, id };
}

const holdOf = (id: number) =>
  db.sqlite.prepare("select flagged_at as flaggedAt, flagged_reason as reason from users where id = ?").get(id) as { flaggedAt: number | null; reason: string | null };
const audits = (id: number) =>
  db.sqlite.prepare("select action, reason from audit_log where target_user_id = ? order by id").all(id) as Array<{ action: string; reason: string }>;

async function canBuy(client: HttpClient) {
  return (await client.post("/api/stripe/checkout", { pack: "default" }, { headers: { Accept: "application/json" } })).status;
}
async function canGenerate(client: HttpClient) {
  return (await client.post("/api/generate-image", { prompt: "a kite", size: "256x256" }, { headers: { Accept: "application/json" } })).status;
}

describe("account holds set and lifted by an admin", () => {
  it("a hold stops buying and generating; lifting it restores both; both are audited with their reason", async () => {
    const { client, id } = await customer();
    expect(await canBuy(client)).toBe(200);
    const page = await adminClient.get(`/admin/credits/${id}/hold`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("is not on hold");

    const placed = await adminClient.post(`/admin/credits/${id}/hold`, { intent: "place", reason: "Chargeback risk, ticket 7" });
    expect(placed.status).toBe(303);
    expect(placed.headers.get("location")).toBe(`/admin/credits/${id}`);
    expect(holdOf(id)).toMatchObject({ flaggedAt: expect.any(Number), reason: "Held by an admin: Chargeback risk, ticket 7" });
    expect(await canBuy(client)).toBe(403);
    expect(await canGenerate(client)).toBe(403);

    const again = await adminClient.post(`/admin/credits/${id}/hold`, { intent: "place", reason: "again" });
    expect(again.status).toBe(400);
    expect(await again.text()).toContain("already on hold");

    const lifted = await adminClient.post(`/admin/credits/${id}/hold`, { intent: "lift", reason: "Reviewed, all fine" });
    expect(lifted.status).toBe(303);
    expect(holdOf(id)).toEqual({ flaggedAt: null, reason: null });
    expect(await canBuy(client)).toBe(200);
    expect(await canGenerate(client)).toBe(201);
    expect(audits(id)).toEqual([
      { action: "account.hold", reason: "Chargeback risk, ticket 7" },
      { action: "account.lift_hold", reason: "Reviewed, all fine" },
    ]);
    const log = await (await adminClient.get(`/admin/credits/audit?user=${id}`)).text();
    expect(log).toContain("Account put on hold");
    expect(log).toContain("Account hold lifted");
  });

  it("refuses bad input with 400 and changes nothing", async () => {
    const { id } = await customer();
    const cases: Array<[string, Record<string, string>]> = [
      ["no reason", { intent: "place" }],
      ["a blank reason", { intent: "place", reason: "   " }],
      ["a two-letter reason", { intent: "place", reason: "no" }],
      ["a reason too long", { intent: "place", reason: "x".repeat(501) }],
      ["no intent", { reason: "A good reason" }],
      ["an unknown intent", { intent: "delete", reason: "A good reason" }],
      ["lifting a hold that is not there", { intent: "lift", reason: "A good reason" }],
    ];
    for (const [name, form] of cases) {
      const res = await adminClient.post(`/admin/credits/${id}/hold`, form);
      expect(res.status, name).toBe(400);
    }
    expect(holdOf(id).flaggedAt).toBeNull();
    expect(audits(id)).toEqual([]);
    expect((await adminClient.post(`/admin/credits/999999/hold`, { intent: "place", reason: "A good reason" })).status).toBe(404);
  });

  it("only admins may set or lift a hold", async () => {
    const { client, id } = await customer();
    const other = await customer();
    const anon = new HttpClient(server.url);
    const byAnon = await anon.post(`/admin/credits/${id}/hold`, { intent: "place", reason: "I am nobody" });
    expect([302, 303]).toContain(byAnon.status);
    expect(byAnon.headers.get("location")).toMatch(/^\/login/);
    expect((await client.post(`/admin/credits/${other.id}/hold`, { intent: "place", reason: "Not an admin" })).status).toBe(403);
    expect((await client.get(`/admin/credits/${other.id}/hold`)).status).toBe(403);
    expect(holdOf(other.id).flaggedAt).toBeNull();
  });
});
