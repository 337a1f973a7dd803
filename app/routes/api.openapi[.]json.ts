import { json } from "@remix-run/node";
import { openApiDocument } from "~/http/openapi.server";
import { getGenerationService } from "~/services/generation.server";
import { getRuntime } from "~/services/runtime.server";

// GET /api/openapi.json — the OpenAPI 3.1 description of the JSON API (public, cacheable).

export async function loader() {
  return json(openApiDocument(getRuntime().config.appUrl, getGenerationService().videoPrices), { headers: { "Cache-Control": "public, max-age=300" } });
}
