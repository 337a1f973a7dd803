import { describe, expect, it } from "vitest";
import { parseEnv } from "./env.server";
import {
  checkRequestOrigin,
  contentSecurityPolicy,
  securityWarnings,
  staticSecurityHeaders,
  trustProxySetting,
} from "./security.server";

const allowed = new Set(["https://credits.example.com"]);
const post = (extra: { origin?: string; referer?: string; path?: string; method?: string }) =>
  checkRequestOrigin({ method: extra.method ?? "POST", path: extra.path ?? "/signup", origin: extra.origin, referer: extra.referer }, allowed);

describe("checkRequestOrigin", () => {
  it("lets safe methods through whatever their origin", () => {
    for (const method of ["GET", "HEAD", "OPTIONS"]) expect(post({ method, origin: "https://evil.example" })).toEqual({ ok: true });
  });

  it("accepts the app's own origin, with or without a path in Referer", () => {
    expect(post({ origin: "https://credits.example.com" })).toEqual({ ok: true });
    expect(post({ referer: "https://credits.example.com/signup?x=1" })).toEqual({ ok: true });
  });

  it("refuses another origin, another scheme or port, and the opaque origin null", () => {
    for (const origin of ["https://evil.example", "http://credits.example.com", "https://credits.example.com:8443", "null"]) {
      expect(post({ origin }), origin).toMatchObject({ ok: false, reason: "origin" });
    }
  });

  it("falls back to Referer when Origin is missing, and refuses an unparsable one", () => {
    expect(post({ referer: "https://evil.example/page" })).toMatchObject({ ok: false, reason: "referer", seen: "https://evil.example" });
    expect(post({ referer: "not a url" })).toMatchObject({ ok: false, reason: "referer" });
  });

  it("Origin wins over Referer", () => {
    expect(post({ origin: "https://evil.example", referer: "https://credits.example.com/" })).toMatchObject({ ok: false });
  });

  it("lets clients that send neither through (API clients, Stripe), and never checks the webhook", () => {
    expect(post({})).toEqual({ ok: true });
    expect(post({ path: "/api/stripe/webhook", origin: "https://evil.example" })).toEqual({ ok: true });
  });
});

describe("security headers by environment", () => {
  const dev = parseEnv({});
  const prod = parseEnv({ NODE_ENV: "production", SESSION_SECRET: "s".repeat(32), STRIPE_EMULATOR: "on", MAIL_OUTBOX: "on", APP_URL: "https://credits.example.com" });

  it("sends HSTS only in production", () => {
    expect(staticSecurityHeaders(dev)["Strict-Transport-Security"]).toBeUndefined();
    expect(staticSecurityHeaders(prod)["Strict-Transport-Security"]).toBe("max-age=31536000; includeSubDomains");
  });

  it("upgrades insecure requests on https production, and allows live reload only in development", () => {
    expect(contentSecurityPolicy(prod, "n")).toContain("upgrade-insecure-requests");
    expect(contentSecurityPolicy(dev, "n")).not.toContain("upgrade-insecure-requests");
    expect(contentSecurityPolicy(dev, "n")).toContain("connect-src 'self' ws: wss:");
    expect(contentSecurityPolicy(prod, "n")).toContain("connect-src 'self';");
  });

  it("lets forms lead to Stripe's checkout, and to the local emulator only when it runs", () => {
    const real = parseEnv({ STRIPE_SECRET_KEY: "sk_test_abc", STRIPE_WEBHOOK_SECRET: "whsec_abc" });
    expect(contentSecurityPolicy(real, "n")).toMatch(/form-action 'self' https:\/\/checkout\.stripe\.com(;|$)/);
    expect(contentSecurityPolicy(dev, "n")).toContain("http://127.0.0.1:*");
  });

  it("warns about weak production settings at start", () => {
    const weak = parseEnv({ NODE_ENV: "production", SESSION_SECRET: "s".repeat(32), STRIPE_EMULATOR: "on", MAIL_OUTBOX: "on", AUTH_RATE_LIMIT_DISABLED: "1" });
    const warnings = securityWarnings(weak).join("\n");
    expect(warnings).toContain("APP_URL is not set");
    expect(warnings).toContain("AUTH_RATE_LIMIT_DISABLED=1");
    expect(securityWarnings(prod)).toEqual([]);
    expect(securityWarnings(dev)).toEqual([]);
  });
});

describe("trustProxySetting", () => {
  it("maps TRUST_PROXY to Express' setting", () => {
    expect(trustProxySetting("0")).toBe(false);
    expect(trustProxySetting("false")).toBe(false);
    expect(trustProxySetting("1")).toBe(1);
    expect(trustProxySetting("true")).toBe(true);
    expect(trustProxySetting("loopback, 10.0.0.0/8")).toBe("loopback, 10.0.0.0/8");
  });
});
