import { json } from "@remix-run/node";
import { limiterStoreStatus } from "~/services/limiter-store.server";
import { getRuntime, isRuntimeReady } from "~/services/runtime.server";

export async function loader() {
  if (!isRuntimeReady()) return json({ status: "starting" }, { status: 503, headers: { "Cache-Control": "no-store" } });
  try {
    const { db, startedAt } = getRuntime();
    // Readiness through the executor: the same path every request takes, on either engine.
    await db.sql.get("SELECT 1 AS ok");
    return json(
      // rateLimits: "memory", "redis", or "redis-unreachable" (still 200: the limits hold per
      // instance meanwhile, and failing the check would restart every instance at once; 033).
      { status: "ok", uptimeSeconds: Math.round((Date.now() - startedAt) / 1000), rateLimits: limiterStoreStatus() },
      { headers: { "Cache-Control": "no-store" } },
    );
  } catch {
    return json({ status: "database unavailable" }, { status: 503, headers: { "Cache-Control": "no-store" } });
  }
}
