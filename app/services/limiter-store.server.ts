/**
 * Where every rate limit and brute-force counter keeps its points: the one factory the limiters
 * use (rate-limit.server.ts, attempt-limit.server.ts), so no caller picks a store of its own.
 *
 * - No REDIS_URL: rate-limiter-flexible's RateLimiterMemory, one process (decision 001).
 * - REDIS_URL: RateLimiterRedis on the process' one ioredis connection, so the counts are shared
 *   by every instance and outlive a restart. Each Redis limiter carries an in-memory
 *   insuranceLimiter with the same points and window: while Redis cannot be reached (refused at
 *   once: rejectIfRedisNotReady, no offline queue) the limits still hold, per instance, and no
 *   request is refused because of the outage. See docs/decisions/033-redis-rate-limits.md.
 *
 * Key prefixes are the limiters' own names, the same in both stores.
 */
import { RateLimiterMemory, RateLimiterRedis, type RateLimiterAbstract } from "rate-limiter-flexible";
import { ConfigError, type Config } from "./env.server";
import { logger } from "./logger.server";
import { openRedisConnection, type RedisConnection } from "./redis-connection.server";

export type LimiterOptions = {
  /** Unique per limiter: it prefixes the keys (in Redis: `<keyPrefix>:<key>`). */
  keyPrefix: string;
  points: number;
  /** The window, seconds. */
  duration: number;
  /** Past the limit the key stays locked this long, seconds (0: until the window ends). */
  blockDuration?: number;
};

/** What /healthz reports: where the counts are, and whether they are shared right now. */
export type LimiterStoreStatus = "memory" | "redis" | "redis-unreachable";

export type LimiterStore = {
  create(options: LimiterOptions): RateLimiterAbstract;
  status(): LimiterStoreStatus;
  /** Resolves true once the counts are shared (at once for memory), false after `timeoutMs`. */
  waitUntilReady(timeoutMs: number): Promise<boolean>;
  /** Redis answered but refused the URL's user or password: a configuration error, not an outage. */
  credentialsRefused(): boolean;
  close(): Promise<void>;
};

export const memoryLimiterStore: LimiterStore = {
  create: (options) => new RateLimiterMemory(options),
  status: () => "memory",
  waitUntilReady: async () => true,
  credentialsRefused: () => false,
  close: async () => {},
};

/**
 * The per-process stand-in for Redis. rate-limiter-flexible calls it whenever a Redis command
 * fails; one that fails while the connection looked ready tells the connection, which reconnects.
 */
class InsuranceLimiter extends RateLimiterMemory {
  constructor(
    options: LimiterOptions,
    private readonly connection: RedisConnection,
  ) {
    super(options);
  }
  override consume(...args: Parameters<RateLimiterMemory["consume"]>) {
    this.connection.reportCommandFailure();
    return super.consume(...args);
  }
  override reward(...args: Parameters<RateLimiterMemory["reward"]>) {
    this.connection.reportCommandFailure();
    return super.reward(...args);
  }
  override get(...args: Parameters<RateLimiterMemory["get"]>) {
    this.connection.reportCommandFailure();
    return super.get(...args);
  }
}

export function redisLimiterStore(connection: RedisConnection): LimiterStore {
  return {
    create: (options) =>
      new RateLimiterRedis({
        ...options,
        storeClient: connection.client,
        // ioredis, not node-redis: useRedisPackage stays off.
        rejectIfRedisNotReady: true,
        // Same limits, this process only; blockDuration is copied onto it by the library.
        insuranceLimiter: new InsuranceLimiter(options, connection),
        // No inMemoryBlockOnConsumed: in rate-limiter-flexible 11 it either skips the shared
        // blockDuration lock-out (without inMemoryBlockDuration) or answers a per-instance
        // Retry-After (with it); a refused request costs one Redis round trip, which is cheap.
      }),
    status: () => (connection.isReady() ? "redis" : "redis-unreachable"),
    waitUntilReady: (timeoutMs) => connection.waitUntilReady(timeoutMs),
    credentialsRefused: () => !connection.isReady() && /\b(WRONGPASS|NOAUTH)\b/.test(connection.lastError() ?? ""),
    close: () => connection.close(),
  };
}

let current: { url: string | undefined; store: LimiterStore } | undefined;

/**
 * The process' store for this configuration: made once (one Redis connection per process, however
 * many limiters), replaced only when REDIS_URL itself differs (tests that reconfigure).
 */
export function limiterStoreFor(config: Pick<Config, "REDIS_URL">): LimiterStore {
  if (current && current.url === config.REDIS_URL) return current.store;
  if (current) void current.store.close();
  const store = config.REDIS_URL ? redisLimiterStore(openRedisConnection(config.REDIS_URL, logger)) : memoryLimiterStore;
  current = { url: config.REDIS_URL, store };
  return store;
}

/**
 * Opens the store at start-up and gives Redis a moment to answer, so the first requests are shared.
 * A Redis that is down is an outage the app starts through; one that refuses the password is a
 * mistake in REDIS_URL, and start-up stops with a ConfigError, like any other bad variable.
 */
export async function openLimiterStore(config: Pick<Config, "REDIS_URL">, waitMs = 3_000): Promise<LimiterStoreStatus> {
  const store = limiterStoreFor(config);
  await store.waitUntilReady(waitMs);
  if (store.credentialsRefused()) {
    await closeLimiterStore();
    throw new ConfigError(["REDIS_URL was refused by Redis: wrong user or password (the value is not shown)"]);
  }
  return store.status();
}

export function limiterStoreStatus(): LimiterStoreStatus {
  return current?.store.status() ?? "memory";
}

/** Closes the Redis connection (graceful shutdown); the next limiterStoreFor opens a new one. */
export async function closeLimiterStore(): Promise<void> {
  const closing = current;
  current = undefined;
  await closing?.store.close();
}
