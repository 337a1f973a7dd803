// Who may read the local outbox: nobody when mail goes to SMTP (the page does not exist), anyone
// on a development machine, and only administrators in production (MAIL_OUTBOX=on): the outbox
// holds other people's sign-in links.
import { requireAdmin } from "../auth.server";
import { getRuntime } from "../runtime.server";
import { outboxDirOf } from "./outbox.server";

export async function requireOutboxAccess(request: Request): Promise<string> {
  const { config } = getRuntime();
  const dir = outboxDirOf(config);
  if (!dir) throw new Response("Not found", { status: 404 });
  if (config.isProduction) await requireAdmin(request);
  return dir;
}
