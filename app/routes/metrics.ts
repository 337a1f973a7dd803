import type { LoaderFunctionArgs } from "@remix-run/node";
import { getOptionalUser } from "~/services/auth.server";
import { hasMetricsToken, renderMetricsPage } from "~/services/metrics-snapshot.server";
import { getRuntime } from "~/services/runtime.server";

// Prometheus scrape endpoint: `Authorization: Bearer $METRICS_TOKEN`, or an admin's session.
export async function loader({ request }: LoaderFunctionArgs) {
  const { config, db, startedAt } = getRuntime();
  const authorization = request.headers.get("Authorization");
  if (!hasMetricsToken(authorization, config)) {
    const user = authorization ? null : await getOptionalUser(request);
    if (!user || user.role !== "admin") {
      const status = authorization || user ? 403 : 401;
      return new Response(status === 401 ? "Send Authorization: Bearer <METRICS_TOKEN> or sign in as an admin.\n" : "Forbidden\n", {
        status,
        headers: {
          "Content-Type": "text/plain; charset=utf-8",
          "Cache-Control": "no-store",
          ...(status === 401 ? { "WWW-Authenticate": 'Bearer realm="metrics"' } : {}),
        },
      });
    }
  }
  return new Response(await renderMetricsPage(db, startedAt), {
    headers: { "Content-Type": "text/plain; version=0.0.4; charset=utf-8", "Cache-Control": "no-store" },
  });
}
