/**
 * Express → Remix, in place of @remix-run/express's createRequestHandler. That adapter gives Remix
 * a stream over the Node request itself (createReadableStreamFromReadable(req)), so whatever a route
 * reads comes straight off the socket, with no limit. Here Remix gets the body that
 * createBodyLimitMiddleware (body-limits.server.ts) has already read and checked; the socket is
 * never read past the limit. The rest mirrors the adapter (v2.17): URL, headers, abort on close,
 * response writing — except that a streamed body waits for the socket to drain (writeBody), where
 * the adapter's writeReadableStreamToWritable ignores write()'s answer and so buffers a whole
 * stream for a slow client. Decisions: docs/decisions/014-request-body-limits.md, 038-csv-export.md.
 */
import type { AppLoadContext, ServerBuild } from "@remix-run/node";
import { createRequestHandler } from "@remix-run/node";
import type { NextFunction, Request as ExpressRequest, Response as ExpressResponse } from "express";
import { CLIENT_IP_HEADER } from "~/services/security.server";
import { declaresBody, takeCheckedBody, wasBodyChecked } from "./body-limits.server";

type Options = {
  build: ServerBuild;
  mode?: string;
  getLoadContext?: (req: ExpressRequest, res: ExpressResponse) => AppLoadContext | Promise<AppLoadContext>;
};

function headersOf(req: ExpressRequest): Headers {
  const headers = new Headers();
  for (const [key, value] of Object.entries(req.headers)) {
    if (Array.isArray(value)) for (const v of value) headers.append(key, v);
    else if (value) headers.set(key, value);
  }
  // Ours, never the client's: req.ip honours TRUST_PROXY, a header from outside would not.
  headers.delete(CLIENT_IP_HEADER);
  if (req.ip) headers.set(CLIENT_IP_HEADER, req.ip);
  return headers;
}

function urlOf(req: ExpressRequest): URL {
  // req.hostname honours "trust proxy" but drops the port; take it from X-Forwarded-Host or Host.
  const portOf = (host: string | undefined) => Number.parseInt(host?.split(":")[1] ?? "", 10);
  const forwardedPort = portOf(req.get("X-Forwarded-Host"));
  const hostPort = portOf(req.get("host"));
  const port = Number.isSafeInteger(forwardedPort) ? forwardedPort : Number.isSafeInteger(hostPort) ? hostPort : null;
  return new URL(`${req.protocol}://${req.hostname}${port ? `:${port}` : ""}${req.originalUrl}`);
}

export function toRemixRequest(req: ExpressRequest, res: ExpressResponse): Request {
  // A body nobody checked must not reach a route: the middleware is missing from server.js.
  if (declaresBody(req.headers) && !wasBodyChecked(req)) throw new Error("request body not checked: mount createBodyLimitMiddleware before the Remix handler");
  const controller = new AbortController();
  // Loaders and actions are aborted when the response can no longer be written (closed unfinished).
  let finished = false;
  res.on("finish", () => (finished = true));
  res.on("close", () => finished || controller.abort());
  const body = req.method === "GET" || req.method === "HEAD" ? undefined : takeCheckedBody(req);
  return new Request(urlOf(req).href, { method: req.method, headers: headersOf(req), signal: controller.signal, body });
}

export async function sendRemixResponse(res: ExpressResponse, response: Response): Promise<void> {
  res.statusMessage = response.statusText;
  res.status(response.status);
  for (const [key, value] of response.headers.entries()) res.append(key, value);
  const type = response.headers.get("Content-Type") ?? "";
  if (/text\/event-stream/i.test(type)) res.flushHeaders();
  if (!response.body) return void res.end();
  // A JSON answer is made whole (json()): one write with its Content-Length, not a chunked stream
  // of one chunk and its terminator (the API's and the webhook's answers; issue 19).
  if (JSON_TYPE.test(type)) return void res.end(Buffer.from(await response.arrayBuffer()));
  await writeBody(response.body, res);
}

// application/json, application/problem+json and the like, with or without parameters; not a
// streaming JSON type such as application/json-seq or application/x-ndjson.
const JSON_TYPE = /^application\/(?:[\w.-]+\+)?json\s*(?:;|$)/i;

/** Resolves true once the socket has taken what was written, false if it closed first. */
function drained(res: ExpressResponse): Promise<boolean> {
  if (res.destroyed) return Promise.resolve(false);
  return new Promise((resolve) => {
    const settle = (ok: boolean) => {
      res.off("drain", onDrain);
      res.off("close", onClose);
      resolve(ok);
    };
    const onDrain = () => settle(true);
    const onClose = () => settle(false);
    res.on("drain", onDrain);
    res.on("close", onClose);
  });
}

/**
 * Streams a body to the client at the client's pace: the next chunk is read from the stream only
 * once the socket has drained, so a producer that reads on demand (a ReadableStream's pull, as the
 * history CSV's) holds what is in flight, not the whole body. A client gone mid-way cancels the
 * stream, which stops its producer.
 */
async function writeBody(body: ReadableStream<Uint8Array>, res: ExpressResponse): Promise<void> {
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return void res.end();
      if (!res.write(value) && !(await drained(res))) return void (await reader.cancel());
      if (res.destroyed) return void (await reader.cancel());
    }
  } catch (error) {
    res.destroy(error instanceof Error ? error : new Error(String(error)));
    throw error;
  }
}

export function createRemixHandler({ build, mode, getLoadContext }: Options) {
  const handle = createRequestHandler(build, mode);
  return async (req: ExpressRequest, res: ExpressResponse, next: NextFunction) => {
    try {
      const request = toRemixRequest(req, res);
      const context = await getLoadContext?.(req, res);
      await sendRemixResponse(res, await handle(request, context));
    } catch (error) {
      next(error);
    }
  };
}
