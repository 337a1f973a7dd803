import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SqlDb } from "../../db/sql.server";
import { HttpClient, startServer, type RunningServer } from "../support/server";
import { openServerSql } from "../support/server-sql";

// A retried API call (same Idempotency-Key) or a double-submitted /generate form (same hidden
// request key) is ONE job and ONE charge.

let server: RunningServer;
let db: SqlDb;
beforeAll(async () => {
  server = await startServer({ SIGNUP_BONUS_CREDITS: "200", LOCAL_VIDEO_DURATION_MS: "60000" });
  db = openServerSql(server);
});
afterAll(async () => {
  await db?.close();
  await server?.stop();
});

let n = 0;
async function customer() {
  const client = new HttpClient(server.url);
  await client.signup(`idem${++n}@example.com`);
  return client;
}

const balance = async (client: HttpClient) => ((await (await client.get("/api/credits")).json()) as { balance: number; onHold: number });

function postJson(client: HttpClient, pathname: string, body: unknown, key?: string) {
  return client.request(pathname, {
    method: "POST",
    body: JSON.stringify(body),
    headers: { "Content-Type": "application/json", Origin: server.url, ...(key ? { "Idempotency-Key": key } : {}) },
  });
}

function jobsOf(email: string) {
  return db.all<{ id: string; status: string }>("select g.id, g.status from generations g join users u on u.id = g.user_id where u.email = ?", [email]);
}

describe("idempotent generation requests", () => {
  it("a retried image request with the same Idempotency-Key answers the first job and charges once", async () => {
    const client = await customer();
    const first = await postJson(client, "/api/generate-image", { prompt: "a lighthouse", size: "256x256" }, "retry-key-0001");
    expect(first.status).toBe(201);
    const firstJob = ((await first.json()) as { job: { id: string } }).job;
    const again = await postJson(client, "/api/generate-image", { prompt: "a lighthouse", size: "256x256" }, "retry-key-0001");
    expect(again.status).toBe(200);
    const body = (await again.json()) as { job: { id: string; status: string } };
    expect(body.job.id).toBe(firstJob.id);
    expect(body.job.status).toBe("succeeded");
    expect(await balance(client)).toMatchObject({ balance: 195, onHold: 0 });

    // Another key is another job.
    expect((await postJson(client, "/api/generate-image", { prompt: "a lighthouse", size: "256x256" }, "retry-key-0002")).status).toBe(201);
    expect((await balance(client)).balance).toBe(190);
    expect(await jobsOf(`idem${n}@example.com`)).toHaveLength(2);
  });

  it("concurrent requests with one key make one job and one hold", async () => {
    const client = await customer();
    const responses = await Promise.all(
      Array.from({ length: 6 }, () => postJson(client, "/api/generate-image", { prompt: "a storm", size: "256x256" }, "concurrent-key-1")),
    );
    const bodies = (await Promise.all(responses.map((r) => r.json()))) as Array<{ job: { id: string } }>;
    expect(new Set(bodies.map((b) => b.job.id)).size).toBe(1);
    expect(responses.every((r) => r.status === 200 || r.status === 201)).toBe(true);
    expect(responses.filter((r) => r.status === 201)).toHaveLength(1);
    expect(await jobsOf(`idem${n}@example.com`)).toHaveLength(1);
    const usage = await db.get<{ n: number }>("select count(*) n from transactions t join users u on u.id = t.user_id where u.email = ? and t.type = 'usage'", [
      `idem${n}@example.com`,
    ]);
    expect(usage!.n).toBe(1);
    expect((await balance(client)).balance).toBe(195);
  });

  it("a double-submitted /generate form starts one video", async () => {
    const client = await customer();
    const form = { intent: "video", prompt: "waves", resolution: "720p", durationSeconds: "4", requestKey: "form-key-000001" };
    const [a, b] = await Promise.all([client.post("/generate", form), client.post("/generate", form)]);
    expect(a.status).toBe(303);
    expect(b.status).toBe(303);
    expect(a.headers.get("location")).toBe(b.headers.get("location"));
    expect(await jobsOf(`idem${n}@example.com`)).toHaveLength(1);
    // A 4 s clip at 720p: half of VIDEO_COST (50 per 8 s).
    expect(await balance(client)).toMatchObject({ balance: 175, onHold: 25 });
  });

  it("refuses a malformed key with 422 and changes nothing", async () => {
    const client = await customer();
    const res = await postJson(client, "/api/generate-image", { prompt: "x" }, "short");
    expect(res.status).toBe(422);
    expect(await res.json()).toMatchObject({ error: "invalid_request" });
    expect(await balance(client)).toMatchObject({ balance: 200, onHold: 0 });
  });

  it("a reused key with a different request answers 422 idempotency_key_reused and changes nothing", async () => {
    const client = await customer();
    const first = await postJson(client, "/api/generate-image", { prompt: "a red fox", size: "256x256" }, "reused-key-0001");
    expect(first.status).toBe(201);
    const before = await balance(client);
    const cases: Array<[string, string, unknown]> = [
      ["another prompt", "/api/generate-image", { prompt: "a blue fox", size: "256x256" }],
      ["another size", "/api/generate-image", { prompt: "a red fox", size: "512x512" }],
      ["the default size instead", "/api/generate-image", { prompt: "a red fox" }],
      ["the video endpoint", "/api/generate-video", { prompt: "a red fox" }],
    ];
    for (const [name, pathname, body] of cases) {
      const res = await postJson(client, pathname, body, "reused-key-0001");
      expect(res.status, name).toBe(422);
      expect(await res.json(), name).toMatchObject({ error: "idempotency_key_reused" });
    }
    // The same request with the same key is still a replay of the first job.
    const again = await postJson(client, "/api/generate-image", { prompt: "a red fox", size: "256x256" }, "reused-key-0001");
    expect(again.status).toBe(200);
    expect(await balance(client)).toEqual(before);
    expect(await jobsOf(`idem${n}@example.com`)).toHaveLength(1);
  });

  it("concurrent requests with one key and different prompts make one job: the rest replay or are refused", async () => {
    const client = await customer();
    const responses = await Promise.all(
      Array.from({ length: 10 }, (_, i) => postJson(client, "/api/generate-image", { prompt: i % 2 ? "odd" : "even", size: "256x256" }, "race-key-00001")),
    );
    const statuses = responses.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    expect(statuses.every((s) => s === 200 || s === 201 || s === 422)).toBe(true);
    // Whichever prompt won, the five requests with the other prompt are refused.
    expect(statuses.filter((s) => s === 422)).toHaveLength(5);
    expect(await jobsOf(`idem${n}@example.com`)).toHaveLength(1);
    expect((await balance(client)).balance).toBe(195);
  });
});
