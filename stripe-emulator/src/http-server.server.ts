import type { IncomingMessage, ServerResponse } from "node:http";
import { jsonResult, matchPath, type HttpRequest, type HttpResult } from "./responses.server";

/**
 * node:http glue: reads the request, routes it to the API, the hosted pages or the test driver,
 * and writes the result. Everything interesting happens in those handlers.
 *
 * Two surfaces. The loopback listener serves everything. The public listener (only when a browser
 * elsewhere must reach the hosted checkout, e.g. a demo container) serves only the pages that a
 * visitor holds an unguessable id for: one Checkout Session's page, one charge's receipt and one
 * Customer Portal session's page (that session's customer's subscriptions only). The
 * API (which takes any test-mode key) and the driver (no auth at all) must never be reachable from
 * the network, so the public surface does not route them, whatever the request's Host header says.
 */

export type Surface = "loopback" | "public";

const MAX_BODY_BYTES = 1024 * 1024;

export type EmulatorHandlers = {
  api: { handle(request: HttpRequest): HttpResult };
  driver: { handle(request: HttpRequest): HttpResult };
  pages: {
    checkoutPage(sessionId: string): HttpResult;
    checkoutAction(sessionId: string, body: string): HttpResult;
    receiptPage(chargeId: string): HttpResult;
    indexPage(): HttpResult;
  };
  billingPages: {
    portalPage(sessionId: string, query: string): HttpResult;
    portalActionPage(sessionId: string, body: string): HttpResult;
    subscriptionsPage(): HttpResult;
    subscriptionPage(id: string, query: string): HttpResult;
    subscriptionAction(id: string, body: string): HttpResult;
  };
};

export function createRequestListener(
  getHandlers: () => EmulatorHandlers | null,
  log: (msg: string, fields?: Record<string, unknown>) => void,
  surface: Surface,
) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const startedAt = Date.now();
    readRequest(req)
      .then((request) => {
        const handlers = getHandlers();
        const result = handlers
          ? surface === "public"
            ? routePublic(handlers, request)
            : route(handlers, request)
          : jsonResult(503, { error: { type: "api_error", message: "The Stripe emulator is starting." } });
        send(res, result);
        log("stripe-emulator: request", {
          method: request.method,
          path: request.path,
          surface,
          status: result.status,
          ms: Date.now() - startedAt,
        });
      })
      .catch((error: unknown) => {
        if (error instanceof BodyTooLargeError) {
          send(res, jsonResult(413, { error: { type: "invalid_request_error", message: error.message } }));
          return;
        }
        log("stripe-emulator: internal error", {
          method: req.method,
          url: req.url,
          error: error instanceof Error ? (error.stack ?? error.message) : String(error),
        });
        send(
          res,
          jsonResult(500, {
            error: { type: "api_error", message: "The Stripe emulator hit an internal error; see its log." },
          }),
        );
      });
  };
}

function route(handlers: EmulatorHandlers, request: HttpRequest): HttpResult {
  const { path, method } = request;
  if (path.startsWith("/v1/")) return handlers.api.handle(request);
  if (path === "/__emulator/pages/subscriptions" && method === "GET") return handlers.billingPages.subscriptionsPage();
  const clock = matchPath("/__emulator/pages/subscriptions/:id", path);
  if (clock && method === "GET") return handlers.billingPages.subscriptionPage(clock.id, request.query);
  if (clock && method === "POST") return handlers.billingPages.subscriptionAction(clock.id, request.body);
  if (path.startsWith("/__emulator/")) return handlers.driver.handle(request);
  if (path === "/" && method === "GET") return handlers.pages.indexPage();
  return routePublic(handlers, request);
}

function routePublic(handlers: EmulatorHandlers, request: HttpRequest): HttpResult {
  const { path, method } = request;
  const checkout = matchPath("/checkout/:id", path);
  if (checkout && method === "GET") return handlers.pages.checkoutPage(checkout.id);
  if (checkout && method === "POST") return handlers.pages.checkoutAction(checkout.id, request.body);

  const portal = matchPath("/portal/:id", path);
  if (portal && method === "GET") return handlers.billingPages.portalPage(portal.id, request.query);
  if (portal && method === "POST") return handlers.billingPages.portalActionPage(portal.id, request.body);

  const receipt = matchPath("/receipts/:id", path);
  if (receipt && method === "GET") return handlers.pages.receiptPage(receipt.id);
  return { status: 404, headers: { "Content-Type": "text/plain; charset=utf-8" }, body: "Not found\n" };
}

class BodyTooLargeError extends Error {}

async function readRequest(req: IncomingMessage): Promise<HttpRequest> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > MAX_BODY_BYTES) throw new BodyTooLargeError(`Request bodies are limited to ${MAX_BODY_BYTES} bytes.`);
    chunks.push(buffer);
  }
  const rawUrl = req.url ?? "/";
  const queryStart = rawUrl.indexOf("?");
  return {
    method: (req.method ?? "GET").toUpperCase(),
    path: queryStart === -1 ? rawUrl : rawUrl.slice(0, queryStart),
    query: queryStart === -1 ? "" : rawUrl.slice(queryStart + 1),
    headers: req.headers,
    body: Buffer.concat(chunks).toString("utf8"),
  };
}

function send(res: ServerResponse, result: HttpResult): void {
  if (res.headersSent) return;
  res.writeHead(result.status, { ...result.headers, "Content-Length": Buffer.byteLength(result.body) });
  res.end(result.body);
}

/** 127.0.0.0/8, ::1 (and its IPv4-mapped form) or `localhost`: reachable from this machine only. */
export function isLoopbackAddress(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, "").toLowerCase();
  if (bare === "localhost" || bare === "::1") return true;
  const v4 = bare.startsWith("::ffff:") ? bare.slice("::ffff:".length) : bare;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4);
}
