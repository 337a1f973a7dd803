import { methodNotAllowed } from "~/http/api-errors.server";
import { generationAction } from "~/http/generation-api.server";
import { getGenerationService } from "~/services/generation.server";
import { VideoApiSchema } from "~/utils/generation-schemas";

// POST /api/generate-video — JSON or form: { prompt, resolution?, durationSeconds? }. Queues the job:
// 202 with the job (poll its statusUrl) | 401 | 400/413/415/422 | 402 | 403 | 429.

export async function loader() {
  return methodNotAllowed("POST");
}

export const action = generationAction(VideoApiSchema, (userId, input, opts) => getGenerationService().startVideo(userId, input, opts));
