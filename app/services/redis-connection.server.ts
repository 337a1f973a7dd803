/**
 * The process' one Redis connection (ioredis), for the rate limits and brute-force counters
 * (decision 033). Tuned to fail fast rather than wait: a request must never hang on a limiter, so
 * while Redis is unreachable every command is refused at once and the limiters answer from their
 * per-process insurance (limiter-store.server.ts). ioredis keeps reconnecting in the background.
 *
 * An outage is logged once when it starts and once when it ends, not on every reconnect attempt;
 * no line carries the URL's password (only scheme, host and port are ever shown).
 */
import { createRequire } from "node:module";
import type { Redis } from "ioredis";
import type { Logger } from "./logger.server";

export type RedisConnection = {
  readonly client: Redis;
  /** `rediss://host:port`: what logs and errors may show. */
  readonly target: string;
  /** Connected and answering (ioredis' "ready"). */
  isReady(): boolean;
  /** The last connection error's message (ioredis never puts the password in one). */
  lastError(): string | undefined;
  /**
   * A command failed or timed out while the connection looked ready (a half-open connection after
   * a network partition sends no RST): reconnect, so the requests after it do not each wait for
   * their own timeout but go straight to memory until Redis answers again.
   */
  reportCommandFailure(): void;
  /** Resolves true once ready, false after `timeoutMs` (the app starts either way). */
  waitUntilReady(timeoutMs: number): Promise<boolean>;
  close(): Promise<void>;
};

/** Scheme, host and port of a Redis URL: never its user or password. */
export function redisTarget(url: string): string {
  const u = new URL(url);
  return `${u.protocol}//${u.host}`;
}

// A command that has not answered by then counts as an outage for that request: the limiter falls
// back to memory instead of holding the request, and the connection is re-made. Not shorter: a
// busy event loop can hold a reply that Redis already sent past a short timeout, and that point
// would then be counted twice (in Redis and in memory).
const COMMAND_TIMEOUT_MS = 5_000;
const CONNECT_TIMEOUT_MS = 3_000;

// ioredis (60 modules) is required only by a process given REDIS_URL: the others never pay for
// loading it at start-up (decision 039). Synchronous, so the limiter store stays synchronous.
const requireOnDemand = createRequire(import.meta.url);

export function openRedisConnection(url: string, log: Pick<Logger, "info" | "warn">): RedisConnection {
  const target = redisTarget(url);
  const { Redis: RedisClient } = requireOnDemand("ioredis") as typeof import("ioredis");
  const client = new RedisClient(url, {
    // ioredis turns TLS on only for a URL that starts with the lower-case "rediss://"; the
    // validator accepts any case, so say it outright.
    tls: new URL(url).protocol === "rediss:" ? {} : undefined,
    enableOfflineQueue: false,
    autoResendUnfulfilledCommands: false,
    maxRetriesPerRequest: 0,
    commandTimeout: COMMAND_TIMEOUT_MS,
    connectTimeout: CONNECT_TIMEOUT_MS,
    // A connection given up on (reportCommandFailure) is destroyed at once rather than after
    // ioredis' default 2 s, during which every request would wait for its own timeout.
    disconnectTimeout: 10,
    retryStrategy: (attempt) => Math.min(attempt * 100, 2_000),
    connectionName: "credits-rate-limits",
  });

  let outage = false; // an outage has been logged and not yet its end
  let everReady = false;
  let closed = false; // closing on purpose (shutdown) is no outage
  let lastError: string | undefined;
  const down = (reason: string) => {
    if (outage || closed) return;
    outage = true;
    log.warn({ redis: target, reason }, "Redis unreachable: rate limits fall back to per-instance memory until it is back");
  };
  // Without an "error" listener ioredis prints every failed reconnect to stderr itself.
  client.on("error", (error: Error) => {
    lastError = error.message;
    down(error.message);
  });
  client.on("close", () => {
    if (everReady) down("connection closed");
  });
  client.on("ready", () => {
    everReady = true;
    if (outage) log.info({ redis: target }, "Redis is back: rate limits are shared again");
    else log.info({ redis: target }, "rate limits and brute-force counters are kept in Redis");
    outage = false;
  });

  return {
    client,
    target,
    isReady: () => client.status === "ready",
    lastError: () => lastError,
    reportCommandFailure() {
      if (closed || client.status !== "ready") return;
      down("a command failed or timed out");
      client.disconnect(true);
    },
    waitUntilReady(timeoutMs) {
      if (client.status === "ready") return Promise.resolve(true);
      return new Promise((resolve) => {
        const timer = setTimeout(() => {
          client.off("ready", onReady);
          resolve(false);
        }, timeoutMs);
        const onReady = () => {
          clearTimeout(timer);
          resolve(true);
        };
        client.once("ready", onReady);
      });
    },
    async close() {
      if (closed) return;
      closed = true;
      // QUIT lets Redis finish what it was sent; while disconnected there is nobody to tell.
      if (client.status === "ready") {
        try {
          await Promise.race([client.quit(), new Promise((r) => setTimeout(r, COMMAND_TIMEOUT_MS))]);
        } catch {
          // the connection went away meanwhile: nothing left to close politely
        }
      }
      client.disconnect(false);
    },
  };
}
