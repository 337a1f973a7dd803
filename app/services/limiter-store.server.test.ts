import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { removeRedis, startRedis, type TestRedis } from "../../tests/support/redis";
import { memoryLimiterStore, redisLimiterStore } from "./limiter-store.server";
import { openRedisConnection, redisTarget, type RedisConnection } from "./redis-connection.server";

// The limiter store against a real redis-server: two connections (two instances) share one
// allowance, and a Redis that stops answering without closing the connection (CLIENT PAUSE)
// costs one command timeout, then every limiter answers from memory at once until it is back.

const PASSWORD = "unit-redis-pass-9191";
let redis: TestRedis;
const connections: RedisConnection[] = [];
const lines: string[] = [];
const log = { info: (_o: unknown, msg: string) => lines.push(`info ${msg}`), warn: (_o: unknown, msg: string) => lines.push(`warn ${msg}`) };

async function connect(): Promise<RedisConnection> {
  const connection = openRedisConnection(redis.url, log as never);
  connections.push(connection);
  expect(await connection.waitUntilReady(5_000)).toBe(true);
  return connection;
}

beforeAll(async () => {
  redis = await startRedis({ password: PASSWORD });
});
afterAll(async () => {
  await Promise.all(connections.map((c) => c.close()));
  await removeRedis(redis);
});

describe("redisLimiterStore", () => {
  it("two connections share one allowance: 40 consumes at once, exactly `points` accepted", async () => {
    const [one, two] = [redisLimiterStore(await connect()), redisLimiterStore(await connect())];
    const limiters = [one, two].map((s) => s.create({ keyPrefix: "unit-shared", points: 7, duration: 60 }));
    const settled = await Promise.allSettled(Array.from({ length: 40 }, (_, i) => limiters[i % 2]!.consume("k")));
    expect(settled.filter((r) => r.status === "fulfilled")).toHaveLength(7);
    expect(one.status()).toBe("redis");
  });

  it("a hung Redis: the first requests wait one command timeout, then memory answers at once, per process; shared again after", async () => {
    const connection = await connect();
    const store = redisLimiterStore(connection);
    const limiter = store.create({ keyPrefix: "unit-hang", points: 3, duration: 60 });
    expect(await redis.command("CLIENT", "PAUSE", "8000", "ALL")).toMatch(/\+OK\r\n\+OK\r\n$/);
    const startedAt = Date.now();
    const first = await Promise.allSettled(Array.from({ length: 5 }, () => limiter.consume("k")));
    expect(Date.now() - startedAt).toBeLessThan(6_500);
    expect(first.filter((r) => r.status === "fulfilled")).toHaveLength(3);
    await expect.poll(() => store.status(), { timeout: 1_000, interval: 10 }).toBe("redis-unreachable");
    // The connection is being re-made: the next ones do not wait for a timeout of their own.
    const nextAt = Date.now();
    await expect(limiter.consume("other")).resolves.toMatchObject({ consumedPoints: 1 });
    expect(Date.now() - nextAt).toBeLessThan(200);
    expect(lines.filter((l) => l.startsWith("warn Redis unreachable"))).toHaveLength(1);
    expect(await connection.waitUntilReady(15_000)).toBe(true);
    expect(lines).toContain("info Redis is back: rate limits are shared again");
    expect(store.status()).toBe("redis");
  }, 30_000);

  it("logs and errors show only scheme, host and port", () => {
    expect(redisTarget(`rediss://default:${PASSWORD}@eu1-owl.upstash.io:6379`)).toBe("rediss://eu1-owl.upstash.io:6379");
    expect(lines.join("\n")).not.toContain(PASSWORD);
  });
});

describe("memoryLimiterStore", () => {
  it("counts in this process only", async () => {
    const limiter = memoryLimiterStore.create({ keyPrefix: "unit-memory", points: 2, duration: 60 });
    const settled = await Promise.allSettled(Array.from({ length: 10 }, () => limiter.consume("k")));
    expect(settled.filter((r) => r.status === "fulfilled")).toHaveLength(2);
    expect(memoryLimiterStore.status()).toBe("memory");
  });
});
