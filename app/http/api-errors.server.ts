import { json } from "@remix-run/node";

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
