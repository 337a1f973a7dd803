import type { LoaderFunctionArgs } from "@remix-run/node";
import { requireUser } from "~/services/auth.server";
import { historyCsvFilename, streamHistoryCsv } from "~/services/history-csv.server";
import { getRuntime } from "~/services/runtime.server";

// GET /settings/billing/history.csv — the signed-in user's whole history, streamed batch by batch.
export async function loader({ request }: LoaderFunctionArgs) {
  const user = await requireUser(request);
  return new Response(streamHistoryCsv(getRuntime().db, user.id), {
    headers: {
      "Content-Type": "text/csv; charset=utf-8",
      "Content-Disposition": `attachment; filename="${historyCsvFilename()}"`,
      "Cache-Control": "private, no-store",
      "X-Content-Type-Options": "nosniff",
    },
  });
}
