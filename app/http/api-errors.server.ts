import { json } from "@remix-run/node";
import { isDatabaseBusy } from "#db/client.server";

// The JSON API's error answers: every error is `{ error: <code>, message: <sentence>, ...extra }`
// with `Cache-Control: no-store`, so a client can switch on `error` and show `message`.

export const NO_STORE = { "Cache-Control": "no-store" };

export type ApiErrorBody = { error: string; message: string } & Record<string, unknown>;

export function apiError(status: number, error: string, message: string, extra: Record<string, unknown> = {}, headers: HeadersInit = {}) {
  const body: ApiErrorBody = { error, message, ...extra };
  return json(body, { status, headers: { ...NO_STORE, ...headers } });
}

export function methodNotAllowed(allow: string) {
  return apiError(405, "method_not_allowed", `Use ${allow}.`, {}, { Allow: allow });
}

/** How long a client should wait after a busy database: a few busy timeouts. */
export const DATABASE_BUSY_RETRY_SECONDS = 2;

export function databaseBusy() {
  return apiError(
    503,
    "database_busy",
    "The database is busy right now (another process holds its write lock). Nothing was charged; try again in a few seconds.",
    { retryAfterSeconds: DATABASE_BUSY_RETRY_SECONDS },
    { "Retry-After": String(DATABASE_BUSY_RETRY_SECONDS) },
  );
}

/**
 * Wraps a JSON API loader or action: SQLITE_BUSY (another process held the write lock past the
 * busy timeout) answers 503 database_busy with Retry-After instead of a plain-text 500. Anything
 * else, thrown Responses included, passes through.
 */
export function answeringBusyAs503<A extends unknown[]>(handler: (...args: A) => Promise<Response>): (...args: A) => Promise<Response> {
  return async (...args) => {
    try {
      return await handler(...args);
    } catch (error) {
      if (isDatabaseBusy(error)) return databaseBusy();
      throw error;
    }
  };
}
