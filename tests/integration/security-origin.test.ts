import path from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HttpClient, startServer, type RunningServer } from "../support/server";

// State-changing requests that name another origin are refused before any route runs.
let server: RunningServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server?.stop();
});

function userExists(email: string): boolean {
  const db = new Database(path.join(server.dataDir, "app.sqlite"), { readonly: true });
  try {
    return db.prepare("SELECT 1 FROM users WHERE email = ?").get(email) !== undefined;
  } finally {
    db.close();
  }
}

const form = (email: string) => new URLSearchParams({ email, password: "password123" }).toString();
const formHeaders = { "Content-Type": "application/x-www-form-urlencoded" };

describe("Origin check on state-changing requests", () => {
  it("refuses a cross-site sign-up with 403 and creates nothing", async () => {
    const res = await fetch(`${server.url}/signup`, {
      method: "POST",
      headers: { ...formHeaders, Origin: "https://evil.example" },
      body: form("csrf@example.com"),
      redirect: "manual",
    });
    expect(res.status).toBe(403);
    expect(await res.text()).toContain("Cross-origin request refused");
    expect(res.headers.get("set-cookie")).toBeNull();
    expect(userExists("csrf@example.com")).toBe(false);
  });

  it("uses Referer when there is no Origin", async () => {
    const res = await fetch(`${server.url}/signup`, {
      method: "POST",
      headers: { ...formHeaders, Referer: "https://evil.example/trap.html" },
      body: form("csrf-referer@example.com"),
      redirect: "manual",
    });
    expect(res.status).toBe(403);
    expect(userExists("csrf-referer@example.com")).toBe(false);
  });

  it('refuses the opaque origin "null" (sandboxed frames)', async () => {
    const res = await fetch(`${server.url}/signup`, {
      method: "POST",
      headers: { ...formHeaders, Origin: "null" },
      body: form("csrf-null@example.com"),
      redirect: "manual",
    });
    expect(res.status).toBe(403);
  });

  it("a cross-site log-out is refused: the session survives", async () => {
    const client = new HttpClient(server.url);
    await client.signup("victim@example.com");
    const res = await client.post("/logout", {}, { headers: { Origin: "https://evil.example" } });
    expect(res.status).toBe(403);
    expect((await client.get("/api/credits")).status).toBe(200);
  });

  it("answers JSON on the API", async () => {
    const client = new HttpClient(server.url);
    await client.signup("api-csrf@example.com");
    const res = await client.request("/api/generate-image", {
      method: "POST",
      headers: { Origin: "https://evil.example", "Content-Type": "application/json" },
      body: JSON.stringify({ prompt: "a cat", size: "256x256" }),
    });
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ error: "cross_origin_request" });
    expect(await (await client.get("/api/credits")).json()).toMatchObject({ balance: 10 });
  });

  it("lets same-origin forms and clients that send no Origin or Referer through", async () => {
    await new HttpClient(server.url).signup("same-origin@example.com"); // sends Origin: APP_URL
    const res = await fetch(`${server.url}/signup`, {
      method: "POST",
      headers: formHeaders,
      body: form("no-origin@example.com"),
      redirect: "manual",
    });
    expect(res.status).toBe(303);
    expect(userExists("no-origin@example.com")).toBe(true);
  });

  it("never stands in the way of Stripe's webhook (server-to-server, signed)", async () => {
    const res = await fetch(`${server.url}/api/stripe/webhook`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Origin: "https://evil.example" },
      body: JSON.stringify({ id: "evt_1", type: "checkout.session.completed" }),
    });
    // The signature check answers, not the Origin check.
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: "invalid_signature" });
  });
});
