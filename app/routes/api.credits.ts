import type { LoaderFunctionArgs } from "@remix-run/node";
import { json } from "@remix-run/node";
import { requireApiUser } from "~/services/auth.server";
import { getBalance } from "~/services/money/ledger.server";
import { getRuntime } from "~/services/runtime.server";

export async function loader({ request }: LoaderFunctionArgs) {
  const user = await requireApiUser(request);
  const { balance, onHold } = getBalance(getRuntime().db, user.id);
  return json({ balance, onHold, userId: user.id }, { headers: { "Cache-Control": "no-store" } });
}
