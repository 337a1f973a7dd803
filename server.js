// The process entry: boots the runtime (config, database, background work) from the server
// build, serves HTTP, and shuts everything down cleanly on SIGTERM/SIGINT.
import path from "node:path";
import { fileURLToPath } from "node:url";
import express from "express";

const here = path.dirname(fileURLToPath(import.meta.url));
const BUILD_PATH = path.join(here, "build/index.js");
const build = await import(BUILD_PATH);
const {
  startRuntime,
  stopRuntime,
  createRequestLogMiddleware,
  createSecurityHeadersMiddleware,
  createOriginCheckMiddleware,
  createBodyLimitMiddleware,
  createRemixHandler,
  createLeanApiHandler,
  trustProxySetting,
  securityWarnings,
  logger,
} = build.entry.module;
let stopping = false;

let runtime;
try {
  runtime = await startRuntime(process.env);
} catch (error) {
  if (error && error.name === "ConfigError") {
    console.error(error.message);
    process.exit(78); // EX_CONFIG
  }
  throw error;
}
const { config } = runtime;
for (const warning of securityWarnings(config)) logger.warn(warning);

const app = express();
app.disable("x-powered-by");
app.set("trust proxy", trustProxySetting(config.TRUST_PROXY)); // req.ip: rate limits and logs
app.use(createRequestLogMiddleware()); // request id (X-Request-Id), one pino line per request
app.use((_req, res, next) => {
  // While shutting down, every response closes its connection: keep-alive cannot hold us open.
  if (stopping) res.setHeader("Connection", "close");
  next();
});
app.use(createSecurityHeadersMiddleware(config)); // CSP nonce in res.locals, HSTS, frame-ancestors...
// 413 past 1 MB (webhook) / 64 KB (the rest), before a byte more is read; keeps the checked body.
app.use(createBodyLimitMiddleware());
app.use(createOriginCheckMiddleware(config)); // 403 for state-changing requests from another origin
app.use("/build", express.static(path.join(here, "public/build"), { immutable: true, maxAge: "1y" }));
app.use(express.static(path.join(here, "public"), { maxAge: "1h" }));
app.get("/favicon.ico", (_req, res) => res.redirect(301, "/favicon.svg"));
const getLoadContext = (req, res) => ({ cspNonce: res.locals.cspNonce, requestId: res.locals.requestId, clientIp: req.ip });
// The hot JSON routes (generation, the Stripe webhook) call their route's action directly, after
// the same middleware; every other request goes on to Remix (app/http/lean-api.server.ts).
app.use(createLeanApiHandler({ build, getLoadContext }));
app.all(
  "*",
  // Not @remix-run/express's handler: that one lets Remix read the socket directly, past any limit.
  createRemixHandler({ build, mode: build.mode, getLoadContext }),
);

const server = app.listen(config.PORT, config.HOST, () => {
  logger.info(`Credits Studio listening on ${config.appUrl} (port ${config.PORT}, database ${runtime.db.shown})`);
});
// Node would answer "Expect: 100-continue" itself, inviting any body; the body limit decides instead.
server.on("checkContinue", app);

// Graceful stop: refuse new connections, let in-flight requests finish (SHUTDOWN_TIMEOUT_SECONDS,
// then cut), stop background work, checkpoint the WAL and close the database, exit 0.
async function shutdown(signal) {
  if (stopping) return;
  stopping = true;
  const graceMs = config.SHUTDOWN_TIMEOUT_SECONDS * 1000;
  logger.info({ signal, graceSeconds: config.SHUTDOWN_TIMEOUT_SECONDS }, "shutting down: finishing in-flight requests");
  const backstop = setTimeout(() => {
    logger.error("shutdown took too long, exiting without a clean stop");
    process.exit(1);
  }, graceMs + 10_000);
  backstop.unref();
  const cut = setTimeout(() => {
    logger.warn("grace period over: closing the remaining connections");
    server.closeAllConnections();
  }, graceMs);
  const idle = setInterval(() => server.closeIdleConnections(), 100);
  await new Promise((resolve) => server.close(resolve));
  clearTimeout(cut);
  clearInterval(idle);
  logger.info(
    { tasks: runtime.tasks.map((t) => t.name) },
    "HTTP server closed; stopping background work, checkpointing and closing the database",
  );
  try {
    await stopRuntime();
  } catch (error) {
    logger.error({ err: error }, "stopping the runtime failed");
    process.exit(1);
  }
  logger.info("stopped cleanly");
  process.exit(0);
}
process.on("SIGTERM", () => shutdown("SIGTERM"));
process.on("SIGINT", () => shutdown("SIGINT"));
