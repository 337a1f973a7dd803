import { json } from "@remix-run/node";
import { getRuntime, isRuntimeReady } from "~/services/runtime.server";

export async function loader() {
  if (!isRuntimeReady()) return json({ status: "starting" }, { status: 503, headers: { "Cache-Control": "no-store" } });
  try {
    const { db, startedAt } = getRuntime();
    db.sqlite.prepare("select 1").get();
    return json(
      { status: "ok", uptimeSeconds: Math.round((Date.now() - startedAt) / 1000) },
      { headers: { "Cache-Control": "no-store" } },
    );
  } catch {
    return json({ status: "database unavailable" }, { status: 503, headers: { "Cache-Control": "no-store" } });
  }
}
