import type { LoaderFunctionArgs } from "@remix-run/node";
import { json } from "@remix-run/node";
import { answeringBusyAs503 } from "~/http/api-errors.server";
import { requireApiUser } from "~/services/auth.server";
import { readBalance } from "~/services/money/ledger.server";
import { getRuntime } from "~/services/runtime.server";

export const loader = answeringBusyAs503(async ({ request }: LoaderFunctionArgs) => {
  const user = await requireApiUser(request);
  const { balance, onHold } = await readBalance(getRuntime().db, user.id);
  return json({ balance, onHold, userId: user.id }, { headers: { "Cache-Control": "no-store" } });
});
