/**
 * How large a request body may be, and the Express middleware that enforces it before Remix runs.
 * The one place the limits are set. Why it works this way: docs/decisions/014-request-body-limits.md.
 */
import type { IncomingMessage } from "node:http";
import type { NextFunction, Request as ExpressRequest, Response as ExpressResponse } from "express";
import { logger } from "~/services/logger.server";
import { incrementCounter } from "~/services/metrics.server";

const KB = 1024;

export const BODY_LIMITS = {
  /** Stripe signs the raw event, so the webhook must read it whole; events are a few KB, rarely 100s. */
  stripeWebhook: 1024 * KB,
  /** Every form and JSON body: a log-in, a prompt, an admin adjustment. None comes near it. */
  default: 64 * KB,
} as const;

/** After a 413, what a client still uploading may send (discarded) before the connection is cut. */
export const LINGER_AFTER_REFUSAL = { ms: 1000, bytes: 16 * 1024 * KB } as const;

const LIMIT_BY_PATH: ReadonlyMap<string, number> = new Map([["/api/stripe/webhook", BODY_LIMITS.stripeWebhook]]);

/** Paths that are not listed (other spellings included) get the small default: never looser. */
export function bodyLimitFor(pathname: string): number {
  const path = pathname.length > 1 ? pathname.replace(/\/+$/, "") : pathname;
  return LIMIT_BY_PATH.get(path) ?? BODY_LIMITS.default;
}

export function formatBytes(bytes: number): string {
  return bytes >= 1024 * KB && bytes % (1024 * KB) === 0 ? `${bytes / (1024 * KB)} MB` : `${Math.round(bytes / KB)} KB`;
}

/** HTTP/1.1 framing: a request has a body only if it says so (Node has already validated these). */
export function declaresBody(headers: IncomingMessage["headers"]): boolean {
  if (headers["transfer-encoding"] !== undefined) return true;
  const length = headers["content-length"];
  return length !== undefined && Number(length) > 0;
}

/** The declared size when there is one; chunked bodies declare nothing and are counted as they come. */
export function declaredLength(headers: IncomingMessage["headers"]): number | null {
  const length = headers["content-length"];
  return length === undefined || headers["transfer-encoding"] !== undefined ? null : Number(length);
}

const bodies = new WeakMap<IncomingMessage, Uint8Array<ArrayBuffer>>();

/** The body the middleware read and checked; undefined if the request has none. */
export function takeCheckedBody(req: IncomingMessage): Uint8Array<ArrayBuffer> | undefined {
  const body = bodies.get(req);
  bodies.delete(req);
  return body;
}

/** The request passed createBodyLimitMiddleware (so its body, if any, is within the limit). */
export function wasBodyChecked(req: IncomingMessage): boolean {
  return checked.has(req);
}
const checked = new WeakSet<IncomingMessage>();

type Middleware = (req: ExpressRequest, res: ExpressResponse, next: NextFunction) => void;

const TOO_LARGE = Symbol("too large");
const ABORTED = Symbol("aborted");

/**
 * Reads at most `limit` bytes. Past it, stops listening and pauses the request: Node then stops
 * reading the socket once its small buffer is full, so the rest stays in the kernel, not here.
 */
function readUpTo(req: IncomingMessage, limit: number): Promise<Uint8Array<ArrayBuffer> | typeof TOO_LARGE | typeof ABORTED> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (outcome: Uint8Array<ArrayBuffer> | typeof TOO_LARGE | typeof ABORTED) => {
      req.off("data", onData).off("end", onEnd).off("error", onAbort).off("close", onAbort);
      resolve(outcome);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.pause();
        finish(TOO_LARGE);
      } else chunks.push(chunk);
    };
    const onEnd = () => {
      const body = new Uint8Array(size);
      let at = 0;
      for (const chunk of chunks) {
        body.set(chunk, at);
        at += chunk.length;
      }
      finish(body);
    };
    // The client went away mid-body ('error' ECONNRESET, then 'close'): nobody to answer.
    const onAbort = () => finish(ABORTED);
    req.on("data", onData).once("end", onEnd).once("error", onAbort).once("close", onAbort);
  });
}

function wantsJson(req: ExpressRequest): boolean {
  return req.path.startsWith("/api/") || req.accepts(["html", "json"]) === "json" || Boolean(req.is("application/json"));
}

export function tooLargePage(limit: number): string {
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Too large to send — Credits Studio</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 36rem; margin: 4rem auto; padding: 0 1rem; line-height: 1.5">
<h1>That was too large to send</h1>
<p>What you sent is larger than we accept here (at most ${formatBytes(limit)}), so we did not read it and nothing was saved.</p>
<p>Go back, shorten what you entered, and try again. <a href="/">Back to the start page</a></p>
</body>
</html>
`;
}

/**
 * Closes in stages (RFC 9112 §9.6) rather than at once. Node closes a `Connection: close` socket as
 * soon as the answer is written (socket.destroySoon()), and closing with upload still unread sends a
 * reset, which a client that is still writing often sees before our answer. So, for this socket:
 * half-close after the answer, discard what still arrives (never kept), and cut the connection when
 * the client stops, or after LINGER_AFTER_REFUSAL's time or bytes, whichever comes first.
 */
function closeInStages(req: IncomingMessage) {
  const socket = req.socket;
  socket.destroySoon = () => {
    socket.end();
    const cut = setTimeout(() => socket.destroy(), LINGER_AFTER_REFUSAL.ms);
    socket.once("close", () => clearTimeout(cut));
    let discarded = 0;
    req.removeAllListeners("data");
    req.on("data", (chunk: Buffer) => {
      discarded += chunk.length;
      if (discarded > LINGER_AFTER_REFUSAL.bytes) socket.destroy();
    });
    req.once("end", () => socket.destroy());
    req.resume();
  };
}

/** 413, in the route's format, and the end of the connection (no reuse: the rest is never read). */
function refuse(req: ExpressRequest, res: ExpressResponse, limit: number, declared: number | null) {
  incrementCounter("security_refusals_total", { reason: "payload_too_large" });
  logger.warn({ reqId: res.locals.requestId, method: req.method, path: req.path, limit, declared }, "request body too large");
  const message = `The request body must be at most ${formatBytes(limit)} (${limit} bytes).`;
  res.status(413).set({ Connection: "close", "Cache-Control": "no-store" });
  closeInStages(req);
  if (wantsJson(req)) res.json({ error: "payload_too_large", message });
  else res.type("html").send(tooLargePage(limit));
}

/**
 * Mount before anything that reads the body. Refuses a declared length over the limit before
 * reading a byte (and before "100 Continue": server.js routes `checkContinue` here), and counts a
 * chunked body as it arrives, refusing it the moment it passes the limit. A body within the limit
 * is kept for the Remix handler (createRemixHandler), which never reads the socket itself.
 */
export function createBodyLimitMiddleware(): Middleware {
  return (req, res, next) => {
    checked.add(req);
    const wantsContinue = /^100-continue$/i.test(req.headers.expect ?? "");
    if (!declaresBody(req.headers)) {
      if (wantsContinue) res.writeContinue();
      return next();
    }
    const limit = bodyLimitFor(req.path);
    const declared = declaredLength(req.headers);
    if (declared !== null && declared > limit) return refuse(req, res, limit, declared);
    if (wantsContinue) res.writeContinue();
    readUpTo(req, limit).then((outcome) => {
      if (outcome === ABORTED) return;
      if (outcome === TOO_LARGE) return refuse(req, res, limit, declared);
      bodies.set(req, outcome);
      next();
    }, next);
  };
}
