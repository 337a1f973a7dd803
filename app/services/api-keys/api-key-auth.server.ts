import type { PortableDb } from "#db/client.server";
import type { User } from "#db/schema";
import { bearerKeyOf } from "~/utils/api-key-schemas";
import type { Config } from "../env.server";
import { limiterStoreFor } from "../limiter-store.server";
import { createApiKeyRateLimiter, type ApiKeyRateLimiter } from "../rate-limit.server";
import { authenticateApiKey, type ApiKeyRef } from "./api-keys.server";

// A JSON request that carries `Authorization`: the key it names, then that key's request limit.
// Any Authorization header is taken as an attempt to use a key, so a wrong one is refused
// (invalid_api_key) rather than quietly falling back to a session cookie sent alongside it.

export type BearerAuth =
  | { ok: true; user: User; apiKey: ApiKeyRef }
  | { ok: false; reason: "invalid_api_key" }
  | { ok: false; reason: "rate_limited"; retryAfterSeconds: number; limit: number };

export async function authenticateBearer(
  deps: { db: PortableDb; limiter: ApiKeyRateLimiter },
  header: string,
  now: number = Date.now(),
): Promise<BearerAuth> {
  const presented = bearerKeyOf(header);
  const found = presented === null ? null : await authenticateApiKey(deps.db, presented, now);
  if (!found?.ok) return { ok: false, reason: "invalid_api_key" };
  const limited = await deps.limiter.consume(found.apiKey.id);
  if (!limited.ok) return { ok: false, reason: "rate_limited", retryAfterSeconds: limited.retryAfterSeconds, limit: limited.limit };
  return found;
}

// One limiter per configuration (per running process), its counts in the limiter store (decision 033).
const limiters = new WeakMap<Config, ApiKeyRateLimiter>();

export function apiKeyRateLimiterFor(config: Config): ApiKeyRateLimiter {
  let limiter = limiters.get(config);
  if (!limiter) {
    limiter = createApiKeyRateLimiter({ disabled: config.RATE_LIMIT_DISABLED, requestsPerMinute: config.RATE_LIMIT_KEY_REQUESTS_PER_MINUTE }, limiterStoreFor(config));
    limiters.set(config, limiter);
  }
  return limiter;
}
