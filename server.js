// The process entry: boots the runtime (config, database, background work) from the server
// build, serves HTTP, and shuts everything down cleanly on SIGTERM/SIGINT.
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createRequestHandler } from "@remix-run/express";
import { broadcastDevReady } from "@remix-run/node";
import express from "express";

const here = path.dirname(fileURLToPath(import.meta.url));
const BUILD_PATH = path.join(here, "build/index.js");
const build = await import(BUILD_PATH);
const { startRuntime, stopRuntime } = build.entry.module;

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

const app = express();
app.disable("x-powered-by");
app.use("/build", express.static(path.join(here, "public/build"), { immutable: true, maxAge: "1y" }));
app.use(express.static(path.join(here, "public"), { maxAge: "1h" }));
app.get("/favicon.ico", (_req, res) => res.redirect(301, "/favicon.svg"));
app.all("*", createRequestHandler({ build, mode: build.mode }));

const server = app.listen(config.PORT, config.HOST, () => {
  console.log(`Credits Studio listening on ${config.appUrl} (port ${config.PORT}, database ${config.databasePath})`);
  if (process.env.NODE_ENV === "development") broadcastDevReady(build);
});

let stopping = false;
async function shutdown(signal) {
  if (stopping) return;
  stopping = true;
  console.log(`${signal}: closing HTTP server, finishing in-flight requests`);
  const forced = setTimeout(() => {
    console.error("shutdown took too long, exiting");
    process.exit(1);
  }, 15_000);
  forced.unref();
  server.close(async () => {
    await stopRuntime();
    console.log("stopped cleanly");
    process.exit(0);
  });
  server.closeIdleConnections?.();
}
process.on("SIGTERM", () => shutdown("SIGTERM"));
process.on("SIGINT", () => shutdown("SIGINT"));
