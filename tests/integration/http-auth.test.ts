import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HttpClient, startServer, type RunningServer } from "../support/server";

let server: RunningServer;
beforeAll(async () => {
  server = await startServer({ ADMIN_EMAILS: "admin@example.com" });
});
afterAll(async () => {
  await server?.stop();
});

describe("accounts over HTTP", () => {
  it("health check answers 200 JSON once migrated", async () => {
    const res = await fetch(`${server.url}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: "ok" });
  });

  it("sign-up answers 303 with an httpOnly session cookie and 10 credits", async () => {
    const client = new HttpClient(server.url);
    const res = await client.signup("new@example.com");
    expect(res.headers.get("location")).toBe("/generate");
    const setCookie = res.headers.get("set-cookie")!;
    expect(setCookie).toMatch(/HttpOnly/i);
    expect(setCookie).toMatch(/SameSite=Lax/i);
    const credits = await client.get("/api/credits");
    expect(credits.status).toBe(200);
    expect(await credits.json()).toMatchObject({ balance: 10, onHold: 0 });
  });

  it("a bad sign-up form answers 400 with field errors and creates nothing", async () => {
    const client = new HttpClient(server.url);
    const res = await client.post("/signup", { email: "not-an-email", password: "short" });
    expect(res.status).toBe(400);
    const html = await res.text();
    expect(html).toContain("Enter a valid email address");
    expect(html).toContain("Password must be at least 8 characters");
    expect(client.cookies.has("__session")).toBe(false);
    const login = await client.post("/login", { email: "not-an-email", password: "short" });
    expect(login.status).toBe(400);
  });

  it("a duplicate email gets the same answer as a new one (it never says the address is registered)", async () => {
    await new HttpClient(server.url).signup("taken@example.com");
    const res = await new HttpClient(server.url).post("/signup", { email: "TAKEN@example.com", password: "password123" });
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/signup/check-inbox");
    expect(await res.text()).not.toContain("already exists");
  });

  it("a wrong password answers 400 and no session", async () => {
    await new HttpClient(server.url).signup("pw@example.com");
    const client = new HttpClient(server.url);
    const res = await client.post("/login", { email: "pw@example.com", password: "wrong-password" });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain("Email or password is incorrect.");
    expect((await client.get("/api/credits")).status).toBe(401);
  });

  it("logout ends the session server-side: the old cookie no longer works", async () => {
    const client = new HttpClient(server.url);
    await client.signup("bye@example.com");
    const stolen = client.cookieHeader();
    const res = await client.post("/logout", {});
    expect(res.status).toBe(303);
    const replay = await fetch(`${server.url}/api/credits`, { headers: { Cookie: stolen } });
    expect(replay.status).toBe(401);
  });

  it("login respects a same-site redirectTo and refuses an off-site one", async () => {
    await new HttpClient(server.url).signup("r@example.com");
    const a = await new HttpClient(server.url).post("/login", {
      email: "r@example.com",
      password: "password123",
      redirectTo: "/settings/billing",
    });
    expect(a.headers.get("location")).toBe("/settings/billing");
    const b = await new HttpClient(server.url).post("/login", {
      email: "r@example.com",
      password: "password123",
      redirectTo: "//evil.example/",
    });
    expect(b.headers.get("location")).toBe("/generate");
  });

  it("GET /api/credits without a session answers 401 JSON", async () => {
    const res = await fetch(`${server.url}/api/credits`);
    expect(res.status).toBe(401);
    expect(res.headers.get("content-type")).toMatch(/application\/json/);
    expect(await res.json()).toMatchObject({ error: "unauthorized" });
  });
});

describe("page access rules", () => {
  it("anonymous visitors of a page are sent to /login?redirectTo=…", async () => {
    for (const page of ["/generate", "/settings/billing", "/admin/credits"]) {
      const res = await fetch(`${server.url}${page}`, { redirect: "manual" });
      expect(res.status, page).toBe(303);
      expect(res.headers.get("location"), page).toBe(`/login?redirectTo=${encodeURIComponent(page)}`);
    }
  });

  it("a signed-in non-admin gets 403 on admin pages; an ADMIN_EMAILS account gets in", async () => {
    const user = new HttpClient(server.url);
    await user.signup("plain@example.com");
    expect((await user.get("/admin/credits")).status).toBe(403);

    const admin = new HttpClient(server.url);
    await admin.signup("admin@example.com");
    expect((await admin.get("/admin/credits")).status).toBe(200);
  });
});

describe("start-up configuration", () => {
  it("a malformed variable stops start-up with one line naming it", async () => {
    await expect(startServer({ IMAGE_COST: "lots" })).rejects.toThrow(/IMAGE_COST must be a whole number of credits/);
  });
});
