import { json, type ActionFunctionArgs } from "@remix-run/node";
import type { z } from "zod";
import type { ApiKeyRef } from "~/services/api-keys/api-keys.server";
import { requireApiCaller } from "~/services/auth.server";
import type { StartResult } from "~/services/generation.server";
import { RequestKeySchema } from "~/utils/generation-schemas";
import { answeringBusyAs503, apiError, methodNotAllowed, NO_STORE } from "./api-errors.server";
import { BODY_LIMITS } from "./body-limits.server";

// HTTP for the generation JSON API, shared by /api/generate-image and /api/generate-video: read a
// JSON or form body, validate it, and map the service's answer to a status code. Every answer is
// JSON with `Cache-Control: no-store`; every error is `{ error: <code>, message: <sentence> }`
// (see api-errors.server.ts).

// The server refuses larger bodies before Remix (body-limits.server.ts); this repeats the check for
// callers that reach the handler another way (tests, a future server entry).
const MAX_BODY_BYTES = BODY_LIMITS.default;

type Body = { ok: true; data: Record<string, unknown> } | { ok: false; response: Response };

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** JSON (`{ "prompt": …, options }`, options either top-level or under `options`) or a form. */
export async function readGenerationBody(request: Request): Promise<Body> {
  const type = (request.headers.get("Content-Type") ?? "").split(";")[0].trim().toLowerCase();
  const length = Number(request.headers.get("Content-Length") ?? 0);
  if (length > MAX_BODY_BYTES) {
    return { ok: false, response: apiError(413, "payload_too_large", `The request body must be at most ${MAX_BODY_BYTES} bytes.`) };
  }
  if (type === "application/json") {
    const text = await request.text();
    if (text.length > MAX_BODY_BYTES) {
      return { ok: false, response: apiError(413, "payload_too_large", `The request body must be at most ${MAX_BODY_BYTES} bytes.`) };
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return { ok: false, response: apiError(400, "invalid_json", "The request body is not valid JSON.") };
    }
    if (!isObject(parsed)) {
      return { ok: false, response: apiError(400, "invalid_json", 'The request body must be a JSON object such as {"prompt": "a red fox"}.') };
    }
    const { options, ...rest } = parsed;
    if (options === undefined) return { ok: true, data: rest };
    if (!isObject(options)) {
      return { ok: false, response: apiError(422, "invalid_request", "options must be an object.", { issues: [{ field: "options", message: "options must be an object" }] }) };
    }
    return { ok: true, data: { ...options, ...rest } };
  }
  if (type === "application/x-www-form-urlencoded" || type === "multipart/form-data") {
    let form: FormData;
    try {
      form = await request.formData();
    } catch {
      return { ok: false, response: apiError(400, "invalid_form", "The form body could not be read.") };
    }
    const data: Record<string, unknown> = {};
    for (const [key, value] of form) {
      if (typeof value !== "string") {
        return { ok: false, response: apiError(422, "invalid_request", `${key} must be text, not a file.`, { issues: [{ field: key, message: "must be text" }] }) };
      }
      data[key] = value;
    }
    return { ok: true, data };
  }
  return {
    ok: false,
    response: apiError(415, "unsupported_media_type", "Send JSON (Content-Type: application/json) or a form (application/x-www-form-urlencoded)."),
  };
}

/** 422 with every problem, each naming its field. */
export function parseGenerationInput<S extends z.ZodTypeAny>(schema: S, data: Record<string, unknown>): { ok: true; value: z.output<S> } | { ok: false; response: Response } {
  const parsed = schema.safeParse(data);
  if (parsed.success) return { ok: true, value: parsed.data };
  const issues = parsed.error.issues.map((issue) => ({ field: issue.path.join(".") || null, message: issue.message }));
  return {
    ok: false,
    response: apiError(422, "invalid_request", issues.map((i) => (i.field ? `${i.field}: ${i.message}` : i.message)).join("; "), { issues }),
  };
}

/** `Idempotency-Key` (optional): a retried request with the same key answers the first job. */
export function readIdempotencyKey(request: Request): { ok: true; value: string | undefined } | { ok: false; response: Response } {
  const raw = request.headers.get("Idempotency-Key");
  if (raw === null) return { ok: true, value: undefined };
  const parsed = RequestKeySchema.safeParse(raw);
  if (parsed.success) return { ok: true, value: parsed.data };
  const message = `Idempotency-Key: ${parsed.error.issues[0]?.message ?? "invalid"}`;
  return { ok: false, response: apiError(422, "invalid_request", message, { issues: [{ field: "Idempotency-Key", message }] }) };
}

/** The service's answer as HTTP: 201/202 with the job, 502 for a failed image, 402/403/429 refusals
 * (402 also when an API key's monthly limit is reached). */
export function generationResponse(result: StartResult): Response {
  if (!result.ok) {
    switch (result.reason) {
      case "insufficient_credits":
        return apiError(402, result.reason, result.message, { balance: result.balance, needed: result.needed });
      case "key_limit_reached":
        return apiError(402, result.reason, result.message, { limit: result.limit, spentThisMonth: result.spentThisMonth, needed: result.needed });
      case "account_flagged":
        return apiError(403, result.reason, result.message);
      case "idempotency_key_reused":
        return apiError(422, result.reason, result.message);
      case "rate_limited":
        return apiError(429, result.reason, result.message, { retryAfterSeconds: result.retryAfterSeconds }, {
          "Retry-After": String(result.retryAfterSeconds),
        });
    }
  }
  const { job, balance } = result;
  if (job.status === "failed" && !result.replayed) {
    return apiError(502, "generation_failed", `${job.error ?? "The generation failed."} No credits were charged.`, { job, balance });
  }
  // A replay answers the first job as it is now, with 200: nothing new was created.
  const status = result.replayed ? 200 : job.status === "succeeded" ? 201 : 202;
  return json({ job, balance }, { status, headers: { ...NO_STORE, Location: job.statusUrl } });
}

type StartGeneration<S extends z.ZodTypeAny> = (
  userId: number,
  input: z.output<S>,
  opts: { requestKey?: string; apiKey?: ApiKeyRef | null },
) => Promise<StartResult>;

/**
 * The whole POST action of a generation endpoint: POST only, a signed-in API user, the body read
 * and validated against `schema`, the optional Idempotency-Key, then `start` and its answer as HTTP.
 * A busy database is 503 database_busy (the service leaves no job charged or running behind).
 */
export function generationAction<S extends z.ZodTypeAny>(schema: S, start: StartGeneration<S>) {
  return answeringBusyAs503(async function action({ request }: ActionFunctionArgs): Promise<Response> {
    if (request.method !== "POST") return methodNotAllowed("POST");
    const { user, apiKey } = await requireApiCaller(request);
    const body = await readGenerationBody(request);
    if (!body.ok) return body.response;
    const input = parseGenerationInput(schema, body.data);
    if (!input.ok) return input.response;
    const key = readIdempotencyKey(request);
    if (!key.ok) return key.response;
    return generationResponse(await start(user.id, input.value, { requestKey: key.value, apiKey }));
  });
}
