/**
 * HTTP hardening for every response and every state-changing request: a per-request CSP nonce,
 * the security headers, and the Origin check that refuses cross-site form posts. Express
 * middleware (mounted by server.js before Remix), built from the validated config.
 * Why each choice: docs/decisions/008-security-headers-and-origin-check.md.
 */
import crypto from "node:crypto";
import type { NextFunction, Request as ExpressRequest, Response as ExpressResponse } from "express";
import type { Config } from "./env.server";
import { logger } from "./logger.server";
import { incrementCounter } from "./metrics.server";

// What server.js hands to Remix for every request (getLoadContext); routes and entry.server read it.
declare module "@remix-run/server-runtime" {
  interface AppLoadContext {
    /** Nonce of this response's Content-Security-Policy: every inline <script> must carry it. */
    cspNonce?: string;
    /** The request id in the logs and the X-Request-Id header. */
    requestId?: string;
    /** The client's address (behind TRUST_PROXY proxies: the forwarded one). */
    clientIp?: string;
  }
}

/**
 * The client's address as Express sees it (req.ip, so TRUST_PROXY applies), carried to code that
 * has only the Request (the session bookkeeping). The Remix handler removes any copy the client
 * sent and sets its own, so the value cannot be forged.
 */
export const CLIENT_IP_HEADER = "x-credits-client-ip";

export function clientIpOf(request: Request): string | null {
  return request.headers.get(CLIENT_IP_HEADER) || null;
}

/** Server-to-server endpoints that authenticate by signature, never by cookie: no Origin check. */
export const ORIGIN_CHECK_EXEMPT_PATHS: ReadonlySet<string> = new Set(["/api/stripe/webhook"]);

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

export function createCspNonce(): string {
  return crypto.randomBytes(16).toString("base64");
}

function originOf(url: string): string | null {
  try {
    const u = new URL(url);
    return u.protocol === "http:" || u.protocol === "https:" ? u.origin : null;
  } catch {
    return null;
  }
}

/**
 * Where forms may send the browser. Checkout redirects to Stripe's hosted page after a form post,
 * and browsers apply form-action to that redirect too, so Stripe (or the local emulator, which
 * listens on its own loopback port) must be listed.
 */
function formActionSources(config: Config): string[] {
  const sources = ["'self'", "https://checkout.stripe.com"];
  if (config.stripeEmulated || config.STRIPE_API_BASE) {
    const hosts = new Set(["127.0.0.1", "localhost", new URL(config.appUrl).hostname]);
    for (const host of hosts) sources.push(`http://${host}:*`);
    if (config.STRIPE_API_BASE) sources.push(originOf(config.STRIPE_API_BASE)!);
  }
  return sources;
}

/** The Content-Security-Policy of one response. Scripts run only from this origin or with the nonce. */
export function contentSecurityPolicy(config: Config, nonce: string): string {
  const https = config.isProduction && config.appUrl.startsWith("https:");
  const directives: Array<[string, string[]]> = [
    ["default-src", ["'self'"]],
    ["script-src", ["'self'", `'nonce-${nonce}'`]],
    // Style attributes (progress bars) are allowed; style is not a script-injection vector.
    ["style-src", ["'self'", "'unsafe-inline'"]],
    ["img-src", ["'self'", "data:", "blob:"]],
    ["media-src", ["'self'", "data:", "blob:"]],
    ["font-src", ["'self'", "data:"]],
    // The development server's live reload speaks WebSocket to another port.
    ["connect-src", config.isProduction ? ["'self'"] : ["'self'", "ws:", "wss:"]],
    ["object-src", ["'none'"]],
    ["base-uri", ["'none'"]],
    ["frame-ancestors", ["'none'"]],
    ["form-action", formActionSources(config)],
  ];
  if (https) directives.push(["upgrade-insecure-requests", []]);
  return directives.map(([name, values]) => [name, ...values].join(" ")).join("; ");
}

/** Every header except the CSP, which depends on the request's nonce. */
export function staticSecurityHeaders(config: Config): Record<string, string> {
  const headers: Record<string, string> = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
  };
  // HSTS only in production: a development machine on http://localhost must not be pinned to https.
  if (config.isProduction) headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains";
  return headers;
}

export type OriginVerdict = { ok: true } | { ok: false; reason: "origin" | "referer"; seen: string };

/**
 * The CSRF check on top of SameSite=Lax cookies. A state-changing request that says where it comes
 * from (Origin, or lacking it Referer) must come from one of `allowed`. A request that says nothing
 * is a server-to-server or API client (browsers always send Origin on a cross-site POST).
 */
export function checkRequestOrigin(
  request: { method: string; path: string; origin?: string | undefined; referer?: string | undefined },
  allowed: ReadonlySet<string>,
): OriginVerdict {
  if (SAFE_METHODS.has(request.method.toUpperCase())) return { ok: true };
  if (ORIGIN_CHECK_EXEMPT_PATHS.has(request.path)) return { ok: true };
  if (request.origin !== undefined && request.origin !== "") {
    // "null": sandboxed frames, file: pages, some cross-origin redirects. Never ours.
    const origin = request.origin === "null" ? null : originOf(request.origin);
    return origin && allowed.has(origin) ? { ok: true } : { ok: false, reason: "origin", seen: request.origin.slice(0, 200) };
  }
  if (request.referer !== undefined && request.referer !== "") {
    const origin = originOf(request.referer);
    return origin && allowed.has(origin) ? { ok: true } : { ok: false, reason: "referer", seen: (origin ?? "unparsable").slice(0, 200) };
  }
  return { ok: true };
}

type Middleware = (req: ExpressRequest, res: ExpressResponse, next: NextFunction) => void;

/** Sets res.locals.cspNonce and the security headers on every response. */
export function createSecurityHeadersMiddleware(config: Config): Middleware {
  const fixed = staticSecurityHeaders(config);
  return (_req, res, next) => {
    const nonce = createCspNonce();
    res.locals.cspNonce = nonce;
    res.setHeader("Content-Security-Policy", contentSecurityPolicy(config, nonce));
    for (const [name, value] of Object.entries(fixed)) res.setHeader(name, value);
    next();
  };
}

/**
 * Refuses state-changing requests from another origin with 403. The allowed origin is APP_URL's;
 * outside production the origin the browser used (Host header) is accepted too, so
 * http://127.0.0.1:3000 and http://localhost:3000 both work on a development machine.
 */
export function createOriginCheckMiddleware(config: Config): Middleware {
  const appOrigin = new URL(config.appUrl).origin;
  return (req, res, next) => {
    const allowed = new Set([appOrigin]);
    if (!config.isProduction && req.headers.host) allowed.add(`${req.protocol}://${req.headers.host}`);
    const verdict = checkRequestOrigin(
      { method: req.method, path: req.path, origin: req.get("origin"), referer: req.get("referer") },
      allowed,
    );
    if (verdict.ok) return next();
    incrementCounter("security_refusals_total", { reason: "cross_origin" });
    logger.warn(
      { reqId: res.locals.requestId, method: req.method, path: req.path, [verdict.reason]: verdict.seen, expected: appOrigin },
      "cross-origin request refused",
    );
    const message = `Cross-origin request refused: this request must come from ${appOrigin} (APP_URL).`;
    res.status(403).setHeader("Cache-Control", "no-store");
    if (req.path.startsWith("/api/") || req.accepts(["html", "json"]) === "json") {
      res.json({ error: "cross_origin_request", message });
    } else {
      res.type("text/plain").send(message);
    }
  };
}

/** TRUST_PROXY as Express' "trust proxy" setting: false, a hop count, true, or an address list. */
export function trustProxySetting(value: string): boolean | number | string {
  const v = value.trim().toLowerCase();
  if (v === "" || v === "0" || v === "false") return false;
  if (v === "true") return true;
  if (/^\d+$/.test(v)) return Number(v);
  return value.trim();
}

/** Settings that are legal but weaken the app in production; server.js logs them at start. */
export function securityWarnings(config: Config): string[] {
  if (!config.isProduction) return [];
  const warnings: string[] = [];
  if (!config.APP_URL) {
    warnings.push(`APP_URL is not set: forms are only accepted from ${config.appUrl}; set APP_URL to the public URL`);
  }
  if (config.AUTH_RATE_LIMIT_DISABLED) warnings.push("AUTH_RATE_LIMIT_DISABLED=1: login and sign-up have no brute-force protection");
  if (!config.appUrl.startsWith("https:") && !/^http:\/\/(localhost|127\.0\.0\.1)[:/]/.test(config.appUrl + "/")) {
    warnings.push(`APP_URL ${config.appUrl} is not https: session cookies are sent without the Secure flag`);
  }
  return warnings;
}
