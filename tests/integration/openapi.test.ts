import path from "node:path";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormatsModule from "ajv-formats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase } from "../../db/client.server";
import { startServer, type HttpClient, type RunningServer } from "../support/server";
import { createKey, imageWithKey, withKey } from "./api-keys-support";
import { balanceOf, postJson, signedIn, waitForJob } from "./generation-support";

// The OpenAPI document cannot drift: real answers of the built server, for every route and every
// status these tests can provoke, are validated against the document's schema for that route and
// status (JSON Schema 2020-12, as OpenAPI 3.1 uses it). An answer the document does not describe fails.

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;
type Doc = { openapi: string; paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, unknown> }> }>> };

let server: RunningServer;
let doc: Doc;
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
const seen: Array<{ template: string; method: string; status: number }> = [];

beforeAll(async () => {
  server = await startServer({
    SIGNUP_BONUS_CREDITS: "20",
    IMAGE_COST: "5",
    VIDEO_COST: "5",
    RATE_LIMIT_DISABLED: "0",
    RATE_LIMIT_IMAGES_PER_MINUTE: "1000",
    RATE_LIMIT_VIDEOS_PER_MINUTE: "1",
    RATE_LIMIT_KEY_REQUESTS_PER_MINUTE: "1000",
    LOCAL_VIDEO_DURATION_MS: "100",
  });
  const res = await fetch(`${server.url}/api/openapi.json`);
  expect(res.status).toBe(200);
  doc = (await res.json()) as Doc;
  ajv.addSchema(doc as object, "openapi.json");
});

afterAll(async () => {
  await server?.stop();
});

const pointer = (...parts: string[]) => parts.map((p) => p.replace(/~/g, "~0").replace(/\//g, "~1")).join("/");

/** Checks one real answer against the document and records that it was seen. */
async function expectDescribed(template: string, method: string, res: Response, expected: number) {
  expect(res.status, `${method.toUpperCase()} ${template}`).toBe(expected);
  const described = doc.paths[template]?.[method]?.responses?.[String(res.status)];
  expect(described, `${method.toUpperCase()} ${template} → ${res.status} is not in the document`).toBeDefined();
  seen.push({ template, method, status: res.status });
  const type = (res.headers.get("content-type") ?? "").split(";")[0];
  if (type !== "application/json") {
    if (described!.content) expect(Object.keys(described!.content), `${template} ${res.status} content type`).toContain(type);
    return;
  }
  expect(described!.content?.["application/json"], `${method} ${template} ${res.status} answers JSON`).toBeDefined();
  const body: unknown = await res.json();
  const validate = ajv.getSchema(`openapi.json#/${pointer("paths", template, method, "responses", String(res.status), "content", "application/json", "schema")}`);
  expect(validate, `no schema for ${method} ${template} ${res.status}`).toBeDefined();
  const valid = validate!(body);
  expect(valid, `${method.toUpperCase()} ${template} ${res.status}: ${ajv.errorsText(validate!.errors)}\n${JSON.stringify(body)}`).toBe(true);
}

function flag(userId: number) {
  const db = openDatabase(path.join(server.dataDir, "app.sqlite"));
  db.sqlite.prepare("update users set flagged_at = ?, flagged_reason = 'test' where id = ?").run(Date.now(), userId);
  db.sqlite.close();
}

const json = (body: unknown, headers: Record<string, string> = {}) => ({
  method: "POST",
  headers: { "Content-Type": "application/json", ...headers },
  body: typeof body === "string" ? body : JSON.stringify(body),
});

describe("every answer is described by /api/openapi.json", () => {
  it("is an OpenAPI 3.1 document with both ways to authenticate", () => {
    expect(doc.openapi).toBe("3.1.0");
    // The video price is described with this server's figures (VIDEO_COST 5, 1080p twice that).
    const video = (doc as unknown as { paths: Record<string, { post: { description: string } }> }).paths["/api/generate-video"].post;
    expect(video.description).toContain("5 credits at 720p, 10 credits at 1080p per 8 seconds, other lengths pro rata");
    const d = doc as unknown as { components: { securitySchemes: Record<string, { type: string; scheme?: string }> } };
    expect(d.components.securitySchemes.bearerAuth).toMatchObject({ type: "http", scheme: "bearer" });
    expect(d.components.securitySchemes.sessionCookie).toMatchObject({ type: "apiKey" });
    // The validator bites: a wrong body for a route fails, through the $refs.
    const credits = ajv.getSchema(`openapi.json#/${pointer("paths", "/api/credits", "get", "responses", "200", "content", "application/json", "schema")}`)!;
    expect(credits({ balance: 1, onHold: 0, userId: 1 })).toBe(true);
    expect(credits({ balance: "1", onHold: 0, userId: 1 })).toBe(false);
    const limit = ajv.getSchema(`openapi.json#/${pointer("paths", "/api/generate-image", "post", "responses", "402", "content", "application/json", "schema")}`)!;
    expect(limit({ error: "key_limit_reached", message: "m", limit: 5 })).toBe(false);
    expect(limit({ error: "key_limit_reached", message: "m", limit: 5, spentThisMonth: 5 })).toBe(true);
  });

  it("the credits, generation and job routes", async () => {
    const client = await signedIn(server.url, "oa");
    const { key } = await createKey(client, "openapi", 10);
    const badKey = { Authorization: `Bearer csk_${"B".repeat(43)}` };
    await expectDescribed("/api/credits", "get", await client.get("/api/credits"), 200);
    await expectDescribed("/api/credits", "get", await fetch(`${server.url}/api/credits`), 401);
    await expectDescribed("/api/credits", "get", await fetch(`${server.url}/api/credits`, { headers: badKey }), 401);

    const img = "/api/generate-image";
    const made = await imageWithKey(server.url, key, "a fox", { "Idempotency-Key": "openapi-001" });
    const { job } = (await made.clone().json()) as { job: { id: string; resultUrl: string } };
    await expectDescribed(img, "post", made, 201);
    await expectDescribed(img, "post", await imageWithKey(server.url, key, "a fox", { "Idempotency-Key": "openapi-001" }), 200);
    await expectDescribed(img, "post", await imageWithKey(server.url, key, "a cat", { "Idempotency-Key": "openapi-001" }), 422);
    await expectDescribed(img, "post", await postJson(client, img, "{broken"), 400);
    await expectDescribed(img, "post", await postJson(client, img, { prompt: "" }), 422);
    await expectDescribed(img, "post", await client.request(img, { method: "POST", headers: { "Content-Type": "text/plain" }, body: "x" }), 415);
    await expectDescribed(img, "post", await postJson(client, img, { prompt: "x".repeat(70 * 1024) }), 413);
    await expectDescribed(img, "post", await fetch(`${server.url}${img}`, json({ prompt: "a" })), 401);
    await expectDescribed(img, "post", await imageWithKey(server.url, key, "[fail] a storm"), 502);
    await expectDescribed(img, "post", await imageWithKey(server.url, key, "second"), 201);
    await expectDescribed(img, "post", await imageWithKey(server.url, key, "over the key's limit"), 402);
    // The balance: 20 - 5 - 5 = 10, so two more from the session, then 402 insufficient_credits.
    await expectDescribed(img, "post", await postJson(client, img, { prompt: "a" }), 201);
    await expectDescribed(img, "post", await postJson(client, img, { prompt: "a" }), 201);
    await expectDescribed(img, "post", await postJson(client, img, { prompt: "a" }), 402);

    const gens = "/api/generations/{id}";
    await expectDescribed(gens, "get", await withKey(server.url, key, `/api/generations/${job.id}`), 200);
    await expectDescribed(gens, "get", await withKey(server.url, key, "/api/generations/gen_000000000000000000000000"), 404);
    await expectDescribed(gens, "get", await fetch(`${server.url}/api/generations/${job.id}`), 401);
    const file = "/generations/{id}/file";
    await expectDescribed(file, "get", await withKey(server.url, key, job.resultUrl), 200);
    await expectDescribed(file, "get", await withKey(server.url, key, job.resultUrl, { headers: { Range: "bytes=0-9" } }), 206);
    await expectDescribed(file, "get", await withKey(server.url, key, job.resultUrl, { headers: { Range: "bytes=999999999-" } }), 416);
    await expectDescribed(file, "get", await withKey(server.url, key, "/generations/gen_000000000000000000000000/file"), 404);
    await expectDescribed(file, "get", await fetch(`${server.url}${job.resultUrl}`), 401);
  });

  it("videos, the rate limit and an account on hold", async () => {
    const client = await signedIn(server.url, "oa-video");
    const vid = "/api/generate-video";
    const first = await postJson(client, vid, { prompt: "waves" });
    const { job } = (await first.clone().json()) as { job: { id: string } };
    await expectDescribed(vid, "post", first, 202);
    await expectDescribed(vid, "post", await postJson(client, vid, { prompt: "more waves" }), 429);
    await expectDescribed(vid, "post", await postJson(client, vid, { prompt: "waves", resolution: "8k" }), 422);
    await expectDescribed(vid, "post", await fetch(`${server.url}${vid}`, json({ prompt: "a" })), 401);
    await waitForJob(client, job.id, (j) => j.status === "succeeded" || j.status === "failed");

    const poor = await signedIn(server.url, "oa-poor");
    const { key } = await createKey(poor, "video", 1);
    await expectDescribed(vid, "post", await withKey(server.url, key, vid, json({ prompt: "a" })), 402);

    const held = await signedIn(server.url, "oa-held");
    flag((await balanceOf(held)).userId);
    await expectDescribed("/api/generate-image", "post", await postJson(held, "/api/generate-image", { prompt: "a" }), 403);
    await expectDescribed("/api/generate-image", "post", await postJson(held, "/api/generate-image", { prompt: "a" }), 403);
    const checkout = await held.post("/api/stripe/checkout", { pack: "default" }, { headers: { Accept: "application/json" } });
    await expectDescribed("/api/stripe/checkout", "post", checkout, 403);
  });

  it("managing keys", async () => {
    const client: HttpClient = await signedIn(server.url, "oa-keys");
    const keys = "/api/keys";
    const created = await client.request(keys, json({ name: "described", monthlyCreditLimit: 50 }));
    const { id, key } = (await created.clone().json()) as { id: number; key: string };
    await expectDescribed(keys, "post", created, 201);
    await expectDescribed(keys, "post", await client.request(keys, json("{nope")), 400);
    await expectDescribed(keys, "post", await client.request(keys, json({ name: "" })), 422);
    await expectDescribed(keys, "post", await client.request(keys, { method: "POST", headers: { "Content-Type": "text/plain" }, body: "x" }), 415);
    await expectDescribed(keys, "post", await client.request(keys, json({ name: "x".repeat(70 * 1024) })), 413);
    await expectDescribed(keys, "post", await fetch(`${server.url}${keys}`, json({ name: "anon" })), 401);
    await expectDescribed(keys, "post", await withKey(server.url, key, keys, json({ name: "child" })), 403);
    await expectDescribed(keys, "post", await client.request(keys, json({ name: "csrf" }, { Origin: "https://evil.example" })), 403);
    await expectDescribed(keys, "get", await client.get(keys), 200);
    await expectDescribed(keys, "get", await fetch(`${server.url}${keys}`), 401);
    await expectDescribed(keys, "get", await withKey(server.url, key, keys), 403);
    const one = "/api/keys/{id}";
    await expectDescribed(one, "delete", await withKey(server.url, key, `${keys}/${id}`, { method: "DELETE" }), 403);
    await expectDescribed(one, "delete", await fetch(`${server.url}${keys}/${id}`, { method: "DELETE" }), 401);
    await expectDescribed(one, "delete", await client.request(`${keys}/${id}`, { method: "DELETE" }), 204);
    await expectDescribed(one, "delete", await client.request(`${keys}/${id}`, { method: "DELETE" }), 404);
  });

  it("checkout and the webhook", async () => {
    const client = await signedIn(server.url, "oa-buy");
    const checkout = "/api/stripe/checkout";
    await expectDescribed(checkout, "post", await client.post(checkout, { pack: "default" }, { headers: { Accept: "application/json" } }), 200);
    await expectDescribed(checkout, "post", await client.post(checkout, { pack: "nope" }, { headers: { Accept: "application/json" } }), 400);
    await expectDescribed(checkout, "post", await client.post(checkout, { pack: "" }, { headers: { Accept: "application/json" } }), 400);
    await expectDescribed(checkout, "post", await client.post(checkout, { pack: "default" }), 303);
    await expectDescribed(checkout, "post", await client.post(checkout, { plan: "starter" }, { headers: { Accept: "application/json" } }), 200);
    await expectDescribed(checkout, "post", await client.post(checkout, { plan: "nope" }, { headers: { Accept: "application/json" } }), 400);
    await expectDescribed(checkout, "post", await client.post(checkout, { plan: "starter", pack: "default" }, { headers: { Accept: "application/json" } }), 400);
    const hook = "/api/stripe/webhook";
    await expectDescribed(hook, "post", await fetch(`${server.url}${hook}`, json({ id: "evt_1" }, { "Stripe-Signature": "t=1,v1=bad" })), 400);
    await expectDescribed(hook, "post", await fetch(`${server.url}${hook}`, json("x".repeat(1100 * 1024), { "Stripe-Signature": "t=1,v1=bad" })), 413);
    await expectDescribed("/api/openapi.json", "get", await fetch(`${server.url}/api/openapi.json`), 200);
  });

  it("redeeming a code", async () => {
    const client = await signedIn(server.url, "oa-redeem");
    const { userId } = await balanceOf(client);
    const db = openDatabase(path.join(server.dataDir, "app.sqlite"));
    const insert = db.sqlite.prepare("insert into redeem_codes (code, credits, credits_expire_after_ms, max_redemptions, redeemable_until, created_by, disabled_at, redemption_count) values (?, 5, ?, ?, ?, ?, ?, ?)");
    insert.run("OPENAPI001", 86_400_000, 10, null, userId, null, 0);
    insert.run("OPENAPIOLD", null, 10, Date.now() - 1000, userId, null, 0);
    insert.run("OPENAPIFUL", null, 1, null, userId, null, 1);
    db.sqlite.close();
    const redeem = "/api/redeem";
    await expectDescribed(redeem, "post", await postJson(client, redeem, { code: "openapi-001" }), 200);
    await expectDescribed(redeem, "post", await postJson(client, redeem, { code: "OPENAPI001" }), 409);
    await expectDescribed(redeem, "post", await postJson(client, redeem, { code: "NOSUCHCODE" }), 404);
    await expectDescribed(redeem, "post", await postJson(client, redeem, { code: "OPENAPIOLD" }), 410);
    await expectDescribed(redeem, "post", await postJson(client, redeem, { code: "OPENAPIFUL" }), 410);
    await expectDescribed(redeem, "post", await postJson(client, redeem, { code: "%%" }), 422);
    await expectDescribed(redeem, "post", await postJson(client, redeem, "{nope"), 400);
    await expectDescribed(redeem, "post", await client.request(redeem, { method: "POST", headers: { "Content-Type": "text/plain" }, body: "x" }), 415);
    await expectDescribed(redeem, "post", await postJson(client, redeem, { code: "x".repeat(70 * 1024) }), 413);
    await expectDescribed(redeem, "post", await fetch(`${server.url}${redeem}`, json({ code: "OPENAPI001" })), 401);
    const held = await signedIn(server.url, "oa-redeem-held");
    flag((await balanceOf(held)).userId);
    await expectDescribed(redeem, "post", await postJson(held, redeem, { code: "OPENAPI001" }), 403);
  });

  it("the balance alert", async () => {
    const client = await signedIn(server.url, "oa-alert");
    const alert = "/api/balance-alert";
    const put = (body: unknown, headers: Record<string, string> = { "Content-Type": "application/json" }) =>
      client.request(alert, { method: "PUT", headers, body: typeof body === "string" ? body : JSON.stringify(body) });
    await expectDescribed(alert, "get", await client.get(alert), 200);
    await expectDescribed(alert, "put", await put({ thresholdCredits: 50 }), 200);
    await expectDescribed(alert, "put", await put({ thresholdCredits: null }), 200);
    await expectDescribed(alert, "put", await put({ thresholdCredits: 1.5 }), 422);
    await expectDescribed(alert, "put", await put("{nope"), 400);
    await expectDescribed(alert, "put", await put("x", { "Content-Type": "text/plain" }), 415);
    await expectDescribed(alert, "put", await put({ thresholdCredits: 5, pad: "x".repeat(70 * 1024) }), 413);
    await expectDescribed(alert, "get", await fetch(`${server.url}${alert}`), 401);
    await expectDescribed(alert, "put", await fetch(`${server.url}${alert}`, { ...json({ thresholdCredits: 5 }), method: "PUT" }), 401);
    await expectDescribed(alert, "put", await put({ thresholdCredits: 5 }, { "Content-Type": "application/json", Origin: "https://evil.example" }), 403);
  });

  it("auto-recharge settings", async () => {
    const client = await signedIn(server.url, "oa-recharge");
    const route = "/api/auto-recharge";
    const put = (body: unknown) => client.request(route, { method: "PUT", headers: { "Content-Type": "application/json", Origin: server.url }, body: typeof body === "string" ? body : JSON.stringify(body) });
    await expectDescribed(route, "get", await client.get(route), 200);
    await expectDescribed(route, "get", await fetch(`${server.url}${route}`), 401);
    await expectDescribed(route, "put", await put({ enabled: false, thresholdCredits: 10, pack: "default", maxRechargesPerMonth: 2 }), 200);
    await expectDescribed(route, "put", await put({ enabled: true, thresholdCredits: 10, pack: "default", maxRechargesPerMonth: null }), 422);
    await expectDescribed(route, "put", await put({ enabled: false, thresholdCredits: 10, pack: "nope", maxRechargesPerMonth: null }), 422);
    await expectDescribed(route, "put", await put({ enabled: false, thresholdCredits: 0, pack: "default" }), 422);
    await expectDescribed(route, "put", await put("{nope"), 400);
    await expectDescribed(route, "put", await client.request(route, { method: "PUT", headers: { "Content-Type": "text/plain", Origin: server.url }, body: "x" }), 415);
    await expectDescribed(route, "put", await fetch(`${server.url}${route}`, { method: "PUT", headers: { "Content-Type": "application/json", Cookie: client.cookieHeader(), Origin: "https://evil.example" }, body: "{}" }), 403);
  });

  it("provoked every documented JSON route, and most of their statuses", () => {
    const routes = new Set(seen.map((s) => `${s.method} ${s.template}`));
    for (const [template, ops] of Object.entries(doc.paths)) {
      for (const method of Object.keys(ops)) expect(routes, `${method} ${template} was never called`).toContain(`${method} ${template}`);
    }
    const documented = Object.values(doc.paths).flatMap((ops) => Object.values(ops).flatMap((op) => Object.keys(op.responses))).length;
    const provoked = new Set(seen.map((s) => `${s.method} ${s.template} ${s.status}`)).size;
    expect(provoked / documented).toBeGreaterThan(0.6);
  });
});
