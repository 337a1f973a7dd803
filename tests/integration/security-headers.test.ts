import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HttpClient, startServer, type RunningServer } from "../support/server";

// The built server in production mode (http APP_URL on loopback, as in tests/support/server.ts).
let server: RunningServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server?.stop();
});

function cspDirectives(header: string | null): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const part of (header ?? "").split(";")) {
    const [name, ...values] = part.trim().split(/\s+/);
    if (name) map.set(name, values);
  }
  return map;
}

describe("security headers", () => {
  it("every page has a CSP whose nonce is on every inline script, and nothing else may run", async () => {
    for (const page of ["/", "/login", "/signup"]) {
      const res = await fetch(`${server.url}${page}`);
      expect(res.status, page).toBe(200);
      const csp = cspDirectives(res.headers.get("content-security-policy"));
      const scriptSrc = csp.get("script-src")!;
      const nonceToken = scriptSrc.find((v) => v.startsWith("'nonce-"))!;
      expect(nonceToken, page).toMatch(/^'nonce-[A-Za-z0-9+/]{22}=='$/);
      expect(scriptSrc).not.toContain("'unsafe-inline'");
      expect(scriptSrc).not.toContain("'unsafe-eval'");
      const nonce = nonceToken.slice(7, -1);
      const html = await res.text();
      const scripts = html.match(/<script\b[^>]*>/g) ?? [];
      expect(scripts.length, page).toBeGreaterThanOrEqual(3); // scroll restoration, context, modules
      for (const tag of scripts) expect(tag, page).toContain(`nonce="${nonce}"`);
      expect(csp.get("default-src")).toEqual(["'self'"]);
      expect(csp.get("object-src")).toEqual(["'none'"]);
      expect(csp.get("base-uri")).toEqual(["'none'"]);
      expect(csp.get("frame-ancestors")).toEqual(["'none'"]);
      expect(csp.get("form-action")).toContain("'self'");
    }
  });

  it("makes a fresh nonce for every response", async () => {
    const nonces = new Set<string>();
    for (let i = 0; i < 5; i++) {
      const res = await fetch(`${server.url}/login`);
      nonces.add(/'nonce-([^']+)'/.exec(res.headers.get("content-security-policy")!)![1]!);
    }
    expect(nonces.size).toBe(5);
  });

  it("sends the other hardening headers, HSTS included in production", async () => {
    const res = await fetch(`${server.url}/login`);
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(res.headers.get("x-frame-options")).toBe("DENY");
    expect(res.headers.get("referrer-policy")).toBe("strict-origin-when-cross-origin");
    expect(res.headers.get("cross-origin-opener-policy")).toBe("same-origin");
    expect(res.headers.get("strict-transport-security")).toBe("max-age=31536000; includeSubDomains");
    expect(res.headers.get("x-powered-by")).toBeNull();
  });

  it("puts the headers on JSON answers, redirects and static files too", async () => {
    const api = await fetch(`${server.url}/api/credits`);
    expect(api.status).toBe(401);
    expect(api.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
    const redirect = await fetch(`${server.url}/generate`, { redirect: "manual" });
    expect(redirect.status).toBe(303);
    expect(redirect.headers.get("x-frame-options")).toBe("DENY");
    const html = await (await fetch(`${server.url}/login`)).text();
    const asset = /href="(\/build\/[^"]+\.css)"/.exec(html)![1]!;
    const css = await fetch(`${server.url}${asset}`);
    expect(css.status).toBe(200);
    expect(css.headers.get("x-content-type-options")).toBe("nosniff");
  });

  it("the session cookie stays httpOnly and SameSite=Lax (the Origin check comes on top)", async () => {
    const client = new HttpClient(server.url);
    const res = await client.signup(`headers-${Date.now()}@example.com`);
    const cookie = res.headers.get("set-cookie")!;
    expect(cookie).toMatch(/HttpOnly/i);
    expect(cookie).toMatch(/SameSite=Lax/i);
  });
});
