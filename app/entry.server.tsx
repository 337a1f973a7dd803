import { PassThrough } from "node:stream";
import type { ActionFunctionArgs, AppLoadContext, EntryContext, LoaderFunctionArgs } from "@remix-run/node";
import { createReadableStreamFromReadable } from "@remix-run/node";
import { RemixServer } from "@remix-run/react";
import { isbot } from "isbot";
import { renderToPipeableStream } from "react-dom/server";
import { NonceProvider } from "./components/nonce-provider";
import { logger as log } from "./services/logger.server";

// The server entry (server.js) reaches the runtime through the build's entry module, so the
// routes and the boot code share one module instance (one database handle, one config).
export { startRuntime, stopRuntime, isRuntimeReady } from "./services/runtime.server";
// HTTP middleware and the logger for server.js (request ids and logs, security headers, Origin check).
export { createRequestLogMiddleware } from "./services/request-log.server";
export {
  createOriginCheckMiddleware,
  createSecurityHeadersMiddleware,
  securityWarnings,
  trustProxySetting,
} from "./services/security.server";
export { logger } from "./services/logger.server";
// Request bodies: the size limits, and the Remix handler that only sees checked bodies.
export { createBodyLimitMiddleware } from "./http/body-limits.server";
export { createRemixHandler } from "./http/remix-handler.server";
export { createLeanApiHandler } from "./http/lean-api.server";
import "./services/background.server";

const ABORT_DELAY = 5_000;

/** Errors thrown by loaders and actions, as structured log lines with the request id. */
export function handleError(error: unknown, { request, context }: LoaderFunctionArgs | ActionFunctionArgs) {
  if (request.signal.aborted) return;
  log.error({ err: error, reqId: context.requestId, method: request.method, path: new URL(request.url).pathname }, "unhandled error");
}

export default function handleRequest(
  request: Request,
  responseStatusCode: number,
  responseHeaders: Headers,
  remixContext: EntryContext,
  loadContext: AppLoadContext,
) {
  // Every inline script React and Remix write must carry the response's CSP nonce (server.js).
  const nonce = loadContext.cspNonce;
  const bot = isbot(request.headers.get("user-agent") || "");
  return new Promise((resolve, reject) => {
    let shellRendered = false;
    const { pipe, abort } = renderToPipeableStream(
      <NonceProvider value={nonce}>
        <RemixServer context={remixContext} url={request.url} abortDelay={ABORT_DELAY} nonce={nonce} />
      </NonceProvider>,
      {
        nonce,
        [bot ? "onAllReady" : "onShellReady"]() {
          shellRendered = true;
          const body = new PassThrough();
          const stream = createReadableStreamFromReadable(body);
          responseHeaders.set("Content-Type", "text/html");
          resolve(new Response(stream, { headers: responseHeaders, status: responseStatusCode }));
          pipe(body);
        },
        onShellError(error: unknown) {
          reject(error);
        },
        onError(error: unknown) {
          responseStatusCode = 500;
          if (shellRendered) console.error(error);
        },
      },
    );
    setTimeout(abort, ABORT_DELAY);
  });
}
