import type { LoaderFunctionArgs } from "@remix-run/node";
import { redirect } from "@remix-run/node";
import { z } from "zod";
import { requireUser } from "~/services/auth.server";
import { findReceiptUrl } from "~/services/billing-dashboard.server";
import { getRuntime } from "~/services/runtime.server";
import { getStripeContext } from "~/services/stripe.server";

const ParamsSchema = z.object({ id: z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER) });

// GET /settings/billing/receipt/:id — the Stripe receipt of one of the user's purchases. Someone
// else's purchase answers 404 like a missing one, so ids reveal nothing.
export async function loader({ request, params }: LoaderFunctionArgs) {
  const user = await requireUser(request);
  const parsed = ParamsSchema.safeParse(params);
  if (!parsed.success) throw new Response("No such receipt.", { status: 404 });
  const url = await findReceiptUrl(getRuntime().db, getStripeContext().stripe, { userId: user.id, transactionId: parsed.data.id });
  if (!url) throw new Response("No receipt for this transaction.", { status: 404 });
  return redirect(url, { status: 303 });
}
