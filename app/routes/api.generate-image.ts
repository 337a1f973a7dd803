import { methodNotAllowed } from "~/http/api-errors.server";
import { generationAction } from "~/http/generation-api.server";
import { getGenerationService } from "~/services/generation.server";
import { ImageApiSchema } from "~/utils/generation-schemas";

// POST /api/generate-image — JSON or form: { prompt, size? }. Runs within the request:
// 201 succeeded (charged) | 502 failed (nothing charged) | 401 | 400/413/415/422 | 402 | 403 | 429.

export async function loader() {
  return methodNotAllowed("POST");
}

export const action = generationAction(ImageApiSchema, (userId, input, opts) => getGenerationService().generateImage(userId, input, opts));
