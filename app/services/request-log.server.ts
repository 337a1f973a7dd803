/**
 * One structured log line per HTTP request (pino), tied together by a request id that is also
 * sent back as X-Request-Id, plus the http_requests_total counter. Only the path is logged: query
 * strings, bodies, cookies and authorization headers never reach the log.
 */
import crypto from "node:crypto";
import type { NextFunction, Request as ExpressRequest, Response as ExpressResponse } from "express";
import { logger } from "./logger.server";
import { incrementCounter } from "./metrics.server";

// An id from a proxy (X-Request-Id, Fly-Request-Id) is kept when it is short and plain, so one id
// follows the request through the proxy's logs and ours; anything else is replaced.
const FORWARDED_ID = /^[\w.:-]{8,128}$/;

export function requestIdFrom(headers: Record<string, string | string[] | undefined>): string {
  for (const name of ["x-request-id", "fly-request-id"]) {
    const value = headers[name];
    if (typeof value === "string" && FORWARDED_ID.test(value)) return value;
  }
  return crypto.randomUUID();
}

/**
 * A low-cardinality label for a path: static files are one group, unmatched paths (404 scanners)
 * another, and id-like segments collapse to :id, so the counter cannot grow without bound.
 */
export function routeGroup(path: string, status: number): string {
  if (path.startsWith("/build/") || /\.[a-z0-9]{2,5}$/i.test(path)) return "static";
  if (status === 404) return "unmatched";
  const segments = path
    .split("/")
    .filter(Boolean)
    .slice(0, 3)
    .map((s) => (/^\d+$|^[0-9a-f-]{16,}$|^[A-Za-z0-9_-]{24,}$/.test(s) ? ":id" : s.toLowerCase()));
  return `/${segments.join("/")}`;
}

type Middleware = (req: ExpressRequest, res: ExpressResponse, next: NextFunction) => void;

/** Mount first: gives the request its id and logs it when the response is done (or cut). */
export function createRequestLogMiddleware(): Middleware {
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    const reqId = requestIdFrom(req.headers);
    res.locals.requestId = reqId;
    res.setHeader("X-Request-Id", reqId);
    let logged = false;
    const done = (outcome: "finished" | "aborted") => {
      if (logged) return;
      logged = true;
      const status = outcome === "finished" ? res.statusCode : 499;
      const ms = Math.round(Number(process.hrtime.bigint() - started) / 1e4) / 100;
      incrementCounter("http_requests_total", {
        method: req.method,
        route: routeGroup(req.path, status),
        status: `${Math.floor(status / 100)}xx`,
      });
      const quiet = req.path === "/healthz" || req.path.startsWith("/build/");
      const level = status >= 500 ? "error" : quiet ? "debug" : "info";
      logger[level]({ reqId, method: req.method, path: req.path, status, ms, ip: req.ip, outcome }, "request");
    };
    res.once("finish", () => done("finished"));
    res.once("close", () => done(res.writableFinished ? "finished" : "aborted"));
    next();
  };
}
