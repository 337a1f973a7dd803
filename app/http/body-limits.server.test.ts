import type { Request as ExpressRequest, Response as ExpressResponse } from "express";
import { describe, expect, it } from "vitest";
import { BODY_LIMITS, bodyLimitFor, declaredLength, declaresBody, formatBytes, tooLargePage } from "./body-limits.server";
import { toRemixRequest } from "./remix-handler.server";

describe("bodyLimitFor", () => {
  it("gives the Stripe webhook 1 MB and everything else 64 KB", () => {
    expect(BODY_LIMITS).toEqual({ stripeWebhook: 1024 * 1024, default: 64 * 1024 });
    expect(bodyLimitFor("/api/stripe/webhook")).toBe(1024 * 1024);
    expect(bodyLimitFor("/api/stripe/webhook/")).toBe(1024 * 1024);
    for (const path of ["/", "/login", "/api/generate-image", "/settings/billing", "/api/stripe/checkout"]) expect(bodyLimitFor(path)).toBe(64 * 1024);
  });

  it("never gives the larger limit to a path that only resembles the webhook's", () => {
    for (const path of ["/api/stripe/webhook/extra", "/api/stripe/webhooks", "/x/api/stripe/webhook"]) expect(bodyLimitFor(path)).toBe(64 * 1024);
  });
});

describe("request framing", () => {
  it("has a body only when Content-Length > 0 or Transfer-Encoding says so", () => {
    expect(declaresBody({})).toBe(false);
    expect(declaresBody({ "content-length": "0" })).toBe(false);
    expect(declaresBody({ "content-length": "12" })).toBe(true);
    expect(declaresBody({ "transfer-encoding": "chunked" })).toBe(true);
  });

  it("trusts a declared length only without Transfer-Encoding (chunked bodies are counted)", () => {
    expect(declaredLength({ "content-length": "2048" })).toBe(2048);
    expect(declaredLength({ "transfer-encoding": "chunked" })).toBeNull();
    expect(declaredLength({})).toBeNull();
  });
});

describe("the refusal page", () => {
  it("names the limit in words a person reads, and runs no script", () => {
    expect(formatBytes(64 * 1024)).toBe("64 KB");
    expect(formatBytes(1024 * 1024)).toBe("1 MB");
    const page = tooLargePage(64 * 1024);
    expect(page).toContain("at most 64 KB");
    expect(page).toContain('<html lang="en">');
    expect(page).not.toContain("<script");
  });
});

describe("toRemixRequest", () => {
  it("refuses to hand Remix a body the limit middleware never saw", () => {
    const req = {
      method: "POST",
      headers: { host: "127.0.0.1:3000", "transfer-encoding": "chunked" },
      get: (name: string) => (name.toLowerCase() === "host" ? "127.0.0.1:3000" : undefined),
      hostname: "127.0.0.1",
      protocol: "http",
      originalUrl: "/login",
    } as unknown as ExpressRequest;
    const res = { on: () => res } as unknown as ExpressResponse;
    expect(() => toRemixRequest(req, res)).toThrow(/createBodyLimitMiddleware/);
  });
});
