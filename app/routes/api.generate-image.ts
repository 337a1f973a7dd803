import type { ActionFunctionArgs } from "@remix-run/node";
import { requireApiUser } from "~/services/auth.server";
import { getGenerationService } from "~/services/generation.server";
import { generationResponse, methodNotAllowed, parseGenerationInput, readGenerationBody, readIdempotencyKey } from "~/utils/generation-api.server";
import { ImageApiSchema } from "~/utils/generation-schemas";

// POST /api/generate-image — JSON or form: { prompt, size? }. Runs within the request:
// 201 succeeded (charged) | 502 failed (nothing charged) | 401 | 400/413/415/422 | 402 | 403 | 429.

export async function loader() {
  return methodNotAllowed("POST");
}

export async function action({ request }: ActionFunctionArgs) {
  if (request.method !== "POST") return methodNotAllowed("POST");
  const user = await requireApiUser(request);
  const body = await readGenerationBody(request);
  if (!body.ok) return body.response;
  const input = parseGenerationInput(ImageApiSchema, body.data);
  if (!input.ok) return input.response;
  const key = readIdempotencyKey(request);
  if (!key.ok) return key.response;
  return generationResponse(await getGenerationService().generateImage(user.id, input.value, { requestKey: key.value }));
}
