import { json, type ActionFunctionArgs, type LoaderFunctionArgs } from "@remix-run/node";
import { issueApiKey, listApiKeys, revokeApiKey } from "~/services/api-keys/api-keys.server";
import { requireSessionApiUser } from "~/services/auth.server";
import { getRuntime } from "~/services/runtime.server";
import { ApiKeyCreateSchema, ApiKeyIdSchema } from "~/utils/api-key-schemas";
import { apiError, methodNotAllowed, NO_STORE } from "./api-errors.server";

// HTTP for /api/keys and /api/keys/:id: managing keys with the browser session (a key cannot
// manage keys: 403). JSON only; every error is `{ error, message }` (api-errors.server.ts).

async function readJsonObject(request: Request): Promise<{ ok: true; data: unknown } | { ok: false; response: Response }> {
  const type = (request.headers.get("Content-Type") ?? "").split(";")[0].trim().toLowerCase();
  if (type !== "application/json") {
    return { ok: false, response: apiError(415, "unsupported_media_type", "Send JSON (Content-Type: application/json).") };
  }
  try {
    return { ok: true, data: JSON.parse(await request.text()) };
  } catch {
    return { ok: false, response: apiError(400, "invalid_json", "The request body is not valid JSON.") };
  }
}

/** GET /api/keys: the caller's working keys (never a key itself). */
export async function listKeysLoader({ request }: LoaderFunctionArgs): Promise<Response> {
  const user = await requireSessionApiUser(request);
  return json({ keys: await listApiKeys(getRuntime().db, user.id) }, { headers: NO_STORE });
}

/** POST /api/keys: 201 with the new key, shown this once. */
export async function createKeyAction({ request }: ActionFunctionArgs): Promise<Response> {
  if (request.method !== "POST") return methodNotAllowed("GET, POST");
  const user = await requireSessionApiUser(request);
  const body = await readJsonObject(request);
  if (!body.ok) return body.response;
  const parsed = ApiKeyCreateSchema.safeParse(body.data);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((issue) => ({ field: issue.path.join(".") || null, message: issue.message }));
    return apiError(422, "invalid_request", issues.map((i) => (i.field ? `${i.field}: ${i.message}` : i.message)).join("; "), { issues });
  }
  const issued = await issueApiKey(getRuntime().db, {
    userId: user.id,
    name: parsed.data.name,
    monthlyCreditLimit: parsed.data.monthlyCreditLimit ?? null,
  });
  return json(issued, { status: 201, headers: { ...NO_STORE, Location: `/api/keys/${issued.id}` } });
}

/** DELETE /api/keys/:id: 204, the key stops working at once; another user's key is 404. */
export async function revokeKeyAction({ request, params }: ActionFunctionArgs): Promise<Response> {
  if (request.method !== "DELETE") return methodNotAllowed("DELETE");
  const user = await requireSessionApiUser(request);
  const id = ApiKeyIdSchema.safeParse(params.id ?? "");
  const revoked = id.success ? await revokeApiKey(getRuntime().db, { userId: user.id, id: id.data }) : { ok: false as const };
  if (!revoked.ok) return apiError(404, "not_found", "No such API key.");
  return new Response(null, { status: 204, headers: NO_STORE });
}
