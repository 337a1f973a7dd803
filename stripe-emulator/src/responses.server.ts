import type { IncomingHttpHeaders } from "node:http";
import type { StripeApiError } from "./errors.server";

/** The emulator's handlers are plain functions from a request to a result; node:http is glue. */
export type HttpRequest = {
  method: string;
  path: string;
  /** The raw query string, without `?`. */
  query: string;
  headers: IncomingHttpHeaders;
  body: string;
};

export type HttpResult = {
  status: number;
  headers: Record<string, string>;
  body: string;
};

export function jsonResult(status: number, value: unknown, headers: Record<string, string> = {}): HttpResult {
  return {
    status,
    headers: { "Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-cache, no-store", ...headers },
    // Stripe pretty-prints its JSON with two spaces.
    body: JSON.stringify(value, null, 2),
  };
}

export function errorResult(error: StripeApiError, headers: Record<string, string> = {}): HttpResult {
  return jsonResult(error.status, error.toJSON(), headers);
}

export function htmlResult(status: number, html: string): HttpResult {
  return {
    status,
    headers: {
      "Content-Type": "text/html; charset=utf-8",
      "Cache-Control": "no-store",
      "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'",
      "X-Frame-Options": "DENY",
    },
    body: html,
  };
}

export function redirectResult(location: string): HttpResult {
  return { status: 303, headers: { Location: location, "Cache-Control": "no-store" }, body: "" };
}

export function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

/** `matchPath("/v1/customers/:id", "/v1/customers/cus_1")` → `{ id: "cus_1" }`; null if no match. */
export function matchPath(pattern: string, path: string): Record<string, string> | null {
  const expected = pattern.split("/");
  const actual = path.split("/");
  if (expected.length !== actual.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < expected.length; i++) {
    if (expected[i].startsWith(":")) {
      if (actual[i] === "") return null;
      try {
        params[expected[i].slice(1)] = decodeURIComponent(actual[i]);
      } catch {
        return null;
      }
    } else if (expected[i] !== actual[i]) {
      return null;
    }
  }
  return params;
}
