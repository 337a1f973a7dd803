import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HttpClient, startServer, type RunningServer } from "../support/server";

// The open redirect after log-in / sign-up, against the built server: whatever redirectTo says,
// the answer goes to a page of ours, and the log-in page does not echo a hostile value back.
let server: RunningServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server?.stop();
});

const HOSTILE = [
  "//evil.example",
  "/\\evil.example",
  "/\t/evil.example",
  "/\r/evil.example",
  "/\n/evil.example",
  " //evil.example",
  "/%2F%2Fevil.example",
  "/%5Cevil.example",
  "/.//evil.example",
  "https://evil.example/",
  "https:evil.example",
  "//127.0.0.1@evil.example",
  "javascript:alert(1)",
  "/\u2215/evil.example",
  "/\uff0f/evil.example",
  `/${"a".repeat(5000)}`,
];

let n = 0;
const nextEmail = () => `redir-${process.pid}-${n++}@example.com`;

describe("redirectTo after sign-up and log-in", () => {
  // Sign-up lands on "check your inbox" (decision 018); a safe target rides along to its log-in link.
  it.each(HOSTILE.map((v) => [JSON.stringify(v).slice(0, 40), v]))("POST /signup with %s drops the target", async (_l, value) => {
    const res = await new HttpClient(server.url).post("/signup", { email: nextEmail(), password: "password123", redirectTo: value });
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/signup/check-inbox");
    const page = await (await fetch(`${server.url}/signup/check-inbox?${new URLSearchParams({ redirectTo: value })}`)).text();
    expect(page).not.toContain("evil.example");
    expect(page).toContain('href="/login"');
  });

  it.each(HOSTILE.map((v) => [JSON.stringify(v).slice(0, 40), v]))("POST /login with %s goes to /generate", async (_l, value) => {
    const email = nextEmail();
    await new HttpClient(server.url).signup(email);
    const res = await new HttpClient(server.url).post("/login", { email, password: "password123", redirectTo: value });
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/generate");
  });

  it("keeps a same-origin path", async () => {
    const email = nextEmail();
    await new HttpClient(server.url).signup(email);
    const res = await new HttpClient(server.url).post("/login", { email, password: "password123", redirectTo: "/settings/billing?tab=history" });
    expect(res.headers.get("location")).toBe("/settings/billing?tab=history");
    const signup = await new HttpClient(server.url).post("/signup", { email: nextEmail(), password: "password123", redirectTo: "/settings/billing" });
    expect(signup.headers.get("location")).toBe("/signup/check-inbox?redirectTo=%2Fsettings%2Fbilling");
    const page = await (await fetch(`${server.url}${signup.headers.get("location")}`)).text();
    expect(page).toContain('href="/login?redirectTo=%2Fsettings%2Fbilling"');
  });

  it.each([["/login"], ["/signup"]])("GET %s?redirectTo=<hostile> does not put the value into the form", async (page) => {
    for (const value of HOSTILE) {
      const res = await fetch(`${server.url}${page}?${new URLSearchParams({ redirectTo: value })}`);
      expect(res.status).toBe(200);
      const html = await res.text();
      // The hidden field is left out entirely; nothing else on the page carries the target either.
      expect(html).not.toMatch(/name="redirectTo"/);
      expect(html).not.toContain("evil.example");
    }
  });

  it("GET /login?redirectTo=<safe path> keeps it in the hidden field", async () => {
    const res = await fetch(`${server.url}/login?${new URLSearchParams({ redirectTo: "/settings/billing" })}`);
    expect(await res.text()).toMatch(/<input type="hidden" name="redirectTo" value="\/settings\/billing"\/>/);
  });

  it("a wrong password keeps a safe target in the re-rendered form, and drops a hostile one", async () => {
    const email = nextEmail();
    await new HttpClient(server.url).signup(email);
    const safe = await new HttpClient(server.url).post(`/login?${new URLSearchParams({ redirectTo: "/settings/billing" })}`, {
      email,
      password: "wrong-password",
      redirectTo: "/settings/billing",
    });
    expect(safe.status).toBe(400);
    const html = await safe.text();
    expect(html).toContain('action="/login?redirectTo=%2Fsettings%2Fbilling"');
    expect(html).toMatch(/<input type="hidden" name="redirectTo" value="\/settings\/billing"\/>/);
    const hostile = await new HttpClient(server.url).post(`/login?${new URLSearchParams({ redirectTo: "/\t/evil.example" })}`, {
      email,
      password: "wrong-password",
      redirectTo: "/\t/evil.example",
    });
    expect(hostile.status).toBe(400);
    const page = await hostile.text();
    expect(page).not.toMatch(/name="redirectTo"/);
    expect(page).not.toContain("evil.example");
  });

  it("a protected page sends an anonymous visitor to /login with its own path only", async () => {
    const res = await new HttpClient(server.url).get("/settings/billing?x=1");
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe(`/login?${new URLSearchParams({ redirectTo: "/settings/billing?x=1" })}`);
  });
});
