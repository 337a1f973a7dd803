import type { ActionFunctionArgs } from "@remix-run/node";
import { json, redirect } from "@remix-run/node";
import { z } from "zod";
import { requireUser } from "~/services/auth.server";
import { createCheckoutSession, createPlanCheckoutSession } from "~/services/money/checkout.server";
import { getRuntime } from "~/services/runtime.server";
import { getStripeContext } from "~/services/stripe.server";
import { redirectWithToast } from "~/services/toast.server";

// Exactly one of pack (a one-time purchase) or plan (a subscription).
const CheckoutSchema = z
  .object({
    pack: z.string().trim().min(1, "Choose a pack").max(32).optional(),
    plan: z.string().trim().min(1, "Choose a plan").max(32).optional(),
    // A random token rendered in the form: a double-submitted form reuses the same session.
    token: z.string().trim().max(100).optional(),
    // Auto-recharge (decision 027): the buyer opts in to saving the card for off-session payments.
    savePaymentMethod: z.union([z.literal("on"), z.literal(true)]).optional(),
  })
  .refine((b) => (b.pack === undefined) !== (b.plan === undefined), { message: "Choose a pack or a plan." });

function wantsJson(request: Request) {
  return (request.headers.get("accept") ?? "").includes("application/json") &&
    !(request.headers.get("accept") ?? "").includes("text/html");
}

async function readInput(request: Request): Promise<unknown> {
  const type = request.headers.get("content-type") ?? "";
  if (type.includes("application/json")) return request.json().catch(() => ({}));
  return Object.fromEntries(await request.formData());
}

export async function action({ request }: ActionFunctionArgs) {
  const user = await requireUser(request);
  const asJson = wantsJson(request);
  const parsed = CheckoutSchema.safeParse(await readInput(request));
  const { db, config } = getRuntime();
  const fail = async (status: number, error: string, message: string) =>
    asJson
      ? json({ error, message }, { status })
      : redirectWithToast(request, "/settings/billing", { kind: "error", title: message }, { status: 303 });
  if (!parsed.success) return asJson ? json({ error: "invalid_request", message: "Choose a pack or a plan." }, { status: 400 }) : fail(400, "invalid_request", "Choose a pack or a plan.");
  const { pack, plan, token, savePaymentMethod } = parsed.data;
  const stripe = getStripeContext().stripe;
  const session =
    plan !== undefined
      ? await createPlanCheckoutSession(db, stripe, config, { user, planId: plan, requestToken: token })
      : await createCheckoutSession(db, stripe, config, { user, packId: pack ?? "", requestToken: token, savePaymentMethod: savePaymentMethod !== undefined });
  if (session.ok) return asJson ? json({ url: session.url, id: session.id }) : redirect(session.url, { status: 303 });
  switch (session.reason) {
    case "unknown_pack":
      // Nothing was called: the pack is checked before Stripe is.
      return json({ error: "unknown_pack", message: session.message }, { status: 400 });
    case "unknown_plan":
      return json({ error: "unknown_plan", message: session.message }, { status: 400 });
    case "account_flagged":
      return fail(403, "account_on_hold", session.message);
    case "already_subscribed":
      // They change plan in the Customer Portal; a second subscription would bill them twice.
      return fail(409, "already_subscribed", session.message);
  }
}

export async function loader() {
  return redirect("/settings/billing", { status: 303 });
}
