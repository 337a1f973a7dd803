import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer, type RunningServer } from "../support/server";
import { createKey, createKeyRequest, expectLedgerClean, imageWithKey, issuedKeys, listKeys, withKey } from "./api-keys-support";
import { balanceOf, signedIn } from "./generation-support";

// API keys over HTTP against the BUILT server: create → use → limit → revoke, who may manage
// keys, other users' keys and jobs, parallel spending on one key, and no key in any log line
// (LOG_LEVEL=debug, everything the server prints is checked at the end).

let server: RunningServer;

beforeAll(async () => {
  server = await startServer({ SIGNUP_BONUS_CREDITS: "100", IMAGE_COST: "5", LOG_LEVEL: "debug" });
});

afterAll(async () => {
  await server?.stop();
});

const keySpend = async (client: Parameters<typeof listKeys>[0], id: number) => (await listKeys(client)).find((k) => k.id === id)?.spentThisMonth;

describe("a key's life", () => {
  it("create → use → limit reached (402) → revoke (401 at once)", async () => {
    const owner = await signedIn(server.url, "life");
    const created = await createKey(owner, "nightly thumbnails", 10);
    expect(created).toMatchObject({ name: "nightly thumbnails", monthlyCreditLimit: 10, prefix: created.key.slice(0, 12) });
    expect(created.key).toMatch(/^csk_[A-Za-z0-9_-]{43}$/);
    expect(Number.isNaN(Date.parse(created.createdAt))).toBe(false);

    // Listed by prefix, never the key.
    const listRes = await owner.get("/api/keys");
    const listText = await listRes.text();
    expect(listText).not.toContain(created.key);
    expect(JSON.parse(listText).keys).toEqual([
      { id: created.id, name: "nightly thumbnails", prefix: created.prefix, monthlyCreditLimit: 10, spentThisMonth: 0, createdAt: created.createdAt, lastUsedAt: null },
    ]);

    // Used like a script: no cookie, no Origin.
    const credits = await withKey(server.url, created.key, "/api/credits");
    expect(credits.status).toBe(200);
    const { userId } = await balanceOf(owner);
    expect(await credits.json()).toEqual({ balance: 100, onHold: 0, userId });

    const first = await imageWithKey(server.url, created.key);
    expect(first.status).toBe(201);
    const job = ((await first.json()) as { job: { id: string; resultUrl: string }; balance: number });
    expect(job.balance).toBe(95);
    expect(await keySpend(owner, created.id)).toBe(5);
    expect((await listKeys(owner))[0].lastUsedAt).not.toBeNull();
    expect((await withKey(server.url, created.key, `/api/generations/${job.job.id}`)).status).toBe(200);
    const file = await withKey(server.url, created.key, job.job.resultUrl);
    expect(file.status).toBe(200);
    expect(file.headers.get("content-type")).toBe("image/png");

    expect((await imageWithKey(server.url, created.key)).status).toBe(201);
    const refused = await imageWithKey(server.url, created.key);
    expect(refused.status).toBe(402);
    expect(await refused.json()).toMatchObject({ error: "key_limit_reached", limit: 10, spentThisMonth: 10, message: expect.stringMatching(/monthly limit/) });
    expect(await balanceOf(owner)).toMatchObject({ balance: 90, onHold: 0 });
    // The session is not bound by the key's limit.
    expect((await owner.post("/api/generate-image", { prompt: "by hand", size: "256x256" })).status).toBe(201);

    // The history and its CSV say which key spent what.
    const csv = await (await owner.get("/settings/billing/history.csv")).text();
    expect(csv.match(/\(via key nightly thumbnails\)/g)).toHaveLength(2);
    expect(await (await owner.get("/settings/billing")).text()).toContain("via key nightly thumbnails");

    const revoked = await owner.request(`/api/keys/${created.id}`, { method: "DELETE" });
    expect(revoked.status).toBe(204);
    const after = await withKey(server.url, created.key, "/api/credits");
    expect(after.status).toBe(401);
    expect(await after.json()).toMatchObject({ error: "invalid_api_key" });
    expect(after.headers.get("www-authenticate")).toMatch(/^Bearer/);
    expect((await imageWithKey(server.url, created.key)).status).toBe(401);
    expect(await listKeys(owner)).toEqual([]);
    // Revoking twice: it is gone.
    expect((await owner.request(`/api/keys/${created.id}`, { method: "DELETE" })).status).toBe(404);
    await expectLedgerClean(server);
  });

  it("a key without a limit spends up to the balance, then 402 insufficient_credits", async () => {
    const owner = await signedIn(server.url, "nolimit");
    const { key } = await createKey(owner, "unbounded");
    const answers = [];
    for (let i = 0; i < 21; i++) answers.push((await imageWithKey(server.url, key)).status);
    expect(answers.filter((s) => s === 201)).toHaveLength(20);
    const last = await imageWithKey(server.url, key);
    expect(last.status).toBe(402);
    expect(await last.json()).toMatchObject({ error: "insufficient_credits", balance: 0, needed: 5 });
  });

  it("a voided hold (a failed generation) does not count against the limit", async () => {
    const owner = await signedIn(server.url, "voided");
    const { key, id } = await createKey(owner, "flaky", 5);
    const failed = await imageWithKey(server.url, key, "[fail] a storm");
    expect(failed.status).toBe(502);
    expect(await keySpend(owner, id)).toBe(0);
    expect((await imageWithKey(server.url, key)).status).toBe(201);
    expect((await imageWithKey(server.url, key)).status).toBe(402);
    expect(await keySpend(owner, id)).toBe(5);
    await expectLedgerClean(server);
  });

  it("Idempotency-Key works with a key: a retry answers the first job and charges once", async () => {
    const owner = await signedIn(server.url, "idem");
    const { key, id } = await createKey(owner, "retrying", 5);
    const headers = { "Idempotency-Key": "job-00000001" };
    expect((await imageWithKey(server.url, key, "a fox", headers)).status).toBe(201);
    expect((await imageWithKey(server.url, key, "a fox", headers)).status).toBe(200);
    expect((await imageWithKey(server.url, key, "another fox", headers)).status).toBe(422);
    expect(await keySpend(owner, id)).toBe(5);
  });
});

describe("who may do what", () => {
  it("a key cannot create, list or revoke keys (403), not even with a session cookie beside it", async () => {
    const owner = await signedIn(server.url, "mint");
    const { key, id } = await createKey(owner, "no minting");
    const attempts: Array<[string, RequestInit]> = [
      ["/api/keys", { method: "GET" }],
      ["/api/keys", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ name: "child" }) }],
      [`/api/keys/${id}`, { method: "DELETE" }],
    ];
    for (const [pathname, init] of attempts) {
      const res = await withKey(server.url, key, pathname, init);
      expect(res.status, `${init.method} ${pathname}`).toBe(403);
      expect(await res.json()).toMatchObject({ error: "session_required" });
      const both = await owner.request(pathname, { ...init, headers: { ...(init.headers as Record<string, string>), Authorization: `Bearer ${key}` } });
      expect(both.status, `${init.method} ${pathname} with a cookie too`).toBe(403);
    }
    expect((await listKeys(owner)).map((k) => k.id)).toEqual([id]);
    const anonymous = await fetch(`${server.url}/api/keys`);
    expect(anonymous.status).toBe(401);
    expect(await anonymous.json()).toMatchObject({ error: "unauthorized" });
  });

  it("another user's key id is 404 on DELETE, and a key cannot read another user's job or file (404)", async () => {
    const alice = await signedIn(server.url, "alice");
    const bob = await signedIn(server.url, "bob");
    const aliceKey = await createKey(alice, "alice's");
    const bobKey = await createKey(bob, "bob's");
    expect((await bob.request(`/api/keys/${aliceKey.id}`, { method: "DELETE" })).status).toBe(404);
    for (const bad of ["0", "-1", "abc", "1e3", "99999999999999999999"]) {
      expect((await bob.request(`/api/keys/${bad}`, { method: "DELETE" })).status, bad).toBe(404);
    }
    expect((await withKey(server.url, aliceKey.key, "/api/credits")).status).toBe(200);

    const made = (await (await imageWithKey(server.url, aliceKey.key)).json()) as { job: { id: string; resultUrl: string } };
    const job = await withKey(server.url, bobKey.key, `/api/generations/${made.job.id}`);
    expect(job.status).toBe(404);
    expect(await job.json()).toMatchObject({ error: "not_found" });
    expect((await withKey(server.url, bobKey.key, made.job.resultUrl)).status).toBe(404);
    expect((await withKey(server.url, aliceKey.key, made.job.resultUrl)).status).toBe(200);
  });

  it("the Origin check still refuses a cookie-authenticated cross-origin POST, and lets a key without Origin through", async () => {
    const owner = await signedIn(server.url, "origin");
    const evil = await createKeyRequest(owner, { name: "csrf" }, { Origin: "https://evil.example" });
    expect(evil.status).toBe(403);
    expect(await evil.json()).toMatchObject({ error: "cross_origin_request" });
    const cookieImage = await owner.request("/api/generate-image", {
      method: "POST",
      headers: { "Content-Type": "application/json", Origin: "https://evil.example" },
      body: JSON.stringify({ prompt: "csrf" }),
    });
    expect(cookieImage.status).toBe(403);
    expect(await listKeys(owner)).toEqual([]);
    expect(await balanceOf(owner)).toMatchObject({ balance: 100 });
    const { key } = await createKey(owner, "script");
    expect((await imageWithKey(server.url, key)).status).toBe(201);
  });
});

describe("limits under parallel requests", () => {
  it("20 parallel images on a key with room for exactly 3: 3 succeed, 17 are 402, the spend equals the limit", async () => {
    const owner = await signedIn(server.url, "parallel");
    const { key, id } = await createKey(owner, "burst", 15);
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => imageWithKey(server.url, key, `fox ${i}`)));
    const statuses = answers.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 201)).toHaveLength(3);
    expect(statuses.filter((s) => s === 402)).toHaveLength(17);
    for (const res of answers.filter((r) => r.status === 402)) {
      expect(await res.json()).toMatchObject({ error: "key_limit_reached", limit: 15 });
    }
    expect(await keySpend(owner, id)).toBe(15);
    expect(await balanceOf(owner)).toMatchObject({ balance: 85, onHold: 0 });
    await expectLedgerClean(server);
  });

  it("two keys of one user with separate limits, spent in parallel, each stop at their own", async () => {
    const owner = await signedIn(server.url, "two-keys");
    const a = await createKey(owner, "a", 10);
    const b = await createKey(owner, "b", 20);
    const answers = await Promise.all(
      Array.from({ length: 16 }, (_, i) => imageWithKey(server.url, i % 2 ? a.key : b.key, `fox ${i}`)),
    );
    expect(answers.filter((r) => r.status === 201)).toHaveLength(6);
    expect(await keySpend(owner, a.id)).toBe(10);
    expect(await keySpend(owner, b.id)).toBe(20);
    expect(await balanceOf(owner)).toMatchObject({ balance: 70 });
    await expectLedgerClean(server);
  });
});

describe("no key in any log line", () => {
  it("nothing the server printed contains a full key, even when a client puts one in a path", async () => {
    const owner = await signedIn(server.url, "logs");
    const { key } = await createKey(owner, "leaky client");
    // Clients make mistakes: the key in a path (logged as the path), a query string, a bad header.
    await fetch(`${server.url}/api/generations/${key}`, { headers: { Authorization: `Bearer ${key}` } });
    await fetch(`${server.url}/${key}`);
    await fetch(`${server.url}/api/credits?api_key=${key}`);
    await fetch(`${server.url}/api/credits`, { headers: { Authorization: `Bearer ${key}x` } });
    await fetch(`${server.url}/api/credits`, { headers: { Authorization: `Basic ${key}` } });
    await imageWithKey(server.url, key, "[fail] a storm");
    await new Promise((r) => setTimeout(r, 200));
    const output = server.output();
    expect(output).toMatch(/"msg":"request"/); // debug logging was on and the requests were logged
    expect(output).toContain("…[redacted]"); // the key-carrying path was logged, scrubbed to its prefix
    expect(issuedKeys.length).toBeGreaterThan(5);
    for (const issued of issuedKeys) expect(output.includes(issued), `key ${issued.slice(0, 12)}… in the log`).toBe(false);
    expect(output).not.toMatch(/csk_[A-Za-z0-9_-]{43}/);
  });
});
