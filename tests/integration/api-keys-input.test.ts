import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer, type RunningServer } from "../support/server";
import { createKey, createKeyRequest, listKeys, withKey } from "./api-keys-support";
import { balanceOf, signedIn } from "./generation-support";

// Hostile input against the built server: what POST /api/keys accepts, what an Authorization
// header must look like, and the per-key request limit under parallel requests (a server of its
// own with the rate limits on).

let server: RunningServer;
let limited: RunningServer;

beforeAll(async () => {
  [server, limited] = await Promise.all([
    startServer({ SIGNUP_BONUS_CREDITS: "100" }),
    startServer({ RATE_LIMIT_DISABLED: "0", RATE_LIMIT_KEY_REQUESTS_PER_MINUTE: "5", RATE_LIMIT_IMAGES_PER_MINUTE: "1000" }),
  ]);
});

afterAll(async () => {
  await Promise.all([server?.stop(), limited?.stop()]);
});

describe("POST /api/keys refuses hostile values (422) and creates nothing", () => {
  const cases: Array<[string, unknown, RegExp]> = [
    ["no name", {}, /name: A name is required/],
    ["empty name", { name: "" }, /name: A name is required/],
    ["blank name", { name: "   " }, /name: A name is required/],
    ["61 characters", { name: "x".repeat(61) }, /at most 60 characters/],
    ["a NUL", { name: "ci\u0000bot" }, /control or invisible/],
    ["a newline inside", { name: "ci\nbot" }, /control or invisible/],
    ["an escape sequence", { name: "\u001b[31mred" }, /control or invisible/],
    ["a bidi override", { name: "abc\u202Edef" }, /control or invisible/],
    ["a zero-width space", { name: "a\u200Bb" }, /control or invisible/],
    ["a number as name", { name: 42 }, /name: The name must be text/],
    ["limit negative", { name: "k", monthlyCreditLimit: -5 }, /monthlyCreditLimit: The monthly limit must be a whole number/],
    ["limit zero", { name: "k", monthlyCreditLimit: 0 }, /monthlyCreditLimit: The monthly limit/],
    ["limit a float", { name: "k", monthlyCreditLimit: 2.5 }, /monthlyCreditLimit: The monthly limit/],
    ["limit huge", { name: "k", monthlyCreditLimit: 1e15 }, /monthlyCreditLimit: The monthly limit/],
    ["limit past 2^53", { name: "k", monthlyCreditLimit: 2 ** 60 }, /monthlyCreditLimit: The monthly limit/],
    ["limit a string", { name: "k", monthlyCreditLimit: "100" }, /monthlyCreditLimit: The monthly limit/],
    ["limit a boolean", { name: "k", monthlyCreditLimit: true }, /monthlyCreditLimit: The monthly limit/],
    ["limit an object", { name: "k", monthlyCreditLimit: { n: 1 } }, /monthlyCreditLimit: The monthly limit/],
    ["an unknown field", { name: "k", key: "csk_mine" }, /Unrecognized key/],
    ["an array", [{ name: "k" }], /Expected object/],
    ["null", null, /Expected object/],
  ];

  it.each(cases)("%s", async (_label, body, message) => {
    const client = await signedIn(server.url, "hostile");
    const res = await createKeyRequest(client, body);
    expect(res.status).toBe(422);
    const json = (await res.json()) as { error: string; message: string; issues: unknown[] };
    expect(json.error).toBe("invalid_request");
    expect(json.message).toMatch(message);
    expect(json.issues.length).toBeGreaterThan(0);
    expect(await listKeys(client)).toEqual([]);
  });

  it("broken JSON is 400, another content type 415, and a name is trimmed", async () => {
    const client = await signedIn(server.url, "hostile-body");
    expect((await createKeyRequest(client, "{not json")).status).toBe(400);
    const form = await client.request("/api/keys", { method: "POST", headers: { "Content-Type": "text/plain" }, body: "name=x" });
    expect(form.status).toBe(415);
    expect(await listKeys(client)).toEqual([]);
    const ok = await createKeyRequest(client, { name: "  deploy bot  ", monthlyCreditLimit: null });
    expect(ok.status).toBe(201);
    expect(await ok.json()).toMatchObject({ name: "deploy bot", monthlyCreditLimit: null });
    expect((await createKeyRequest(client, { name: "Ünïcode ✓ 名前", monthlyCreditLimit: 100_000_000 })).status).toBe(201);
  });
});

describe("Authorization headers", () => {
  it("answers each hostile header with 401 invalid_api_key, even when a valid session cookie comes with it", async () => {
    const client = await signedIn(server.url, "auth-header");
    const { key } = await createKey(client, "good");
    const revoked = await createKey(client, "revoked");
    expect((await client.request(`/api/keys/${revoked.id}`, { method: "DELETE" })).status).toBe(204);
    const other = `csk_${"A".repeat(43)}`; // the right format, but no such key
    const headers: Array<[string, string]> = [
      ["the scheme alone", "Bearer"],
      ["the scheme and a space", "Bearer "],
      ["Basic", "Basic x"],
      ["Basic with the key", `Basic ${key}`],
      ["an unknown key of the right format", `Bearer ${other}`],
      ["another format (a Stripe key)", "Bearer sk_test_abcdefghijklmnopqrstuvwxyz0123456789abcdefgh"],
      ["a key one character short", `Bearer ${key.slice(0, -1)}`],
      ["a key one character long", `Bearer ${key}A`],
      ["two spaces", `Bearer  ${key}`],
      ["a key twice", `Bearer ${key} ${key}`],
      ["a comma list", `Bearer ${key}, Bearer ${key}`],
      ["the key without a scheme", key],
      ["a revoked key", `Bearer ${revoked.key}`],
      ["10 KB", `Bearer csk_${"a".repeat(10 * 1024)}`],
    ];
    for (const [label, value] of headers) {
      for (const cookie of [false, true]) {
        const res = cookie
          ? await client.get("/api/credits", { headers: { Authorization: value } })
          : await fetch(`${server.url}/api/credits`, { headers: { Authorization: value } });
        expect(res.status, `${label}${cookie ? " + cookie" : ""}`).toBe(401);
        expect(await res.json()).toMatchObject({ error: "invalid_api_key" });
      }
    }
  });

  it("accepts the scheme in any case (RFC 9110) and a value whose surrounding whitespace HTTP strips", async () => {
    const client = await signedIn(server.url, "auth-ok");
    const { key } = await createKey(client, "good");
    const { userId } = await balanceOf(client);
    for (const value of [`Bearer ${key}`, `bearer ${key}`, `BEARER ${key}`, `Bearer ${key} `, ` Bearer ${key}`, `Bearer ${key}\t`]) {
      const res = await fetch(`${server.url}/api/credits`, { headers: { Authorization: value } });
      expect(res.status, JSON.stringify(value)).toBe(200);
      expect(await res.json()).toMatchObject({ userId });
    }
  });

  it("the key decides who calls, not a cookie of another account sent with it", async () => {
    const alice = await signedIn(server.url, "who-alice");
    const bob = await signedIn(server.url, "who-bob");
    const { key } = await createKey(alice, "alice's");
    const res = await bob.get("/api/credits", { headers: { Authorization: `Bearer ${key}` } });
    expect((await res.json()) as { userId: number }).toMatchObject({ userId: (await balanceOf(alice)).userId });
  });
});

describe("the per-key request limit", () => {
  it("12 parallel requests on a key with 5 a minute: 5 pass, 7 are 429 with Retry-After; another key and the session are not affected", async () => {
    const client = await signedIn(limited.url, "key-rate");
    const a = await createKey(client, "busy");
    const b = await createKey(client, "quiet");
    const answers = await Promise.all(Array.from({ length: 12 }, () => withKey(limited.url, a.key, "/api/credits")));
    expect(answers.filter((r) => r.status === 200)).toHaveLength(5);
    const refused = answers.filter((r) => r.status === 429);
    expect(refused).toHaveLength(7);
    for (const res of refused) {
      expect(Number(res.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
      expect(await res.json()).toMatchObject({ error: "rate_limited", retryAfterSeconds: expect.any(Number) });
    }
    // Generation through the spent key is refused before anything is held.
    const image = await withKey(limited.url, a.key, "/api/generate-image", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ prompt: "a fox", size: "256x256" }),
    });
    expect(image.status).toBe(429);
    expect((await withKey(limited.url, b.key, "/api/credits")).status).toBe(200);
    expect((await client.get("/api/credits")).status).toBe(200);
    expect(await balanceOf(client)).toMatchObject({ onHold: 0 });
  });
});
