import type { LoaderFunctionArgs } from "@remix-run/node";
import { json } from "@remix-run/node";
import { requireApiUser } from "~/services/auth.server";
import { getGenerationService } from "~/services/generation.server";
import { answeringBusyAs503, apiError } from "~/http/api-errors.server";
import { GENERATION_ID_PATTERN } from "~/utils/generation-schemas";

// GET /api/generations/:id — the signed-in owner's job: { job } (status, progress, cost, hold,
// resultUrl once succeeded). Another user's job is 404, as if it did not exist.

export const loader = answeringBusyAs503(async ({ request, params }: LoaderFunctionArgs) => {
  const user = await requireApiUser(request);
  const id = params.id ?? "";
  const job = GENERATION_ID_PATTERN.test(id) ? await getGenerationService().getJob(user.id, id) : undefined;
  if (!job) return apiError(404, "not_found", "No such generation.");
  return json({ job }, { headers: { "Cache-Control": "no-store" } });
});
