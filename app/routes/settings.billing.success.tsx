import type { LoaderFunctionArgs } from "@remix-run/node";
import { redirect } from "@remix-run/node";
import { requireUser } from "~/services/auth.server";
import { fulfillCheckout } from "~/services/money/fulfilment.server";
import { logger } from "~/services/logger.server";
import { getRuntime } from "~/services/runtime.server";
import { getStripeContext } from "~/services/stripe.server";
import { redirectWithToast } from "~/services/toast.server";

// Stripe sends the buyer back here. Fulfilment runs now too (the webhook may be late), through
// the same idempotent function, so the billing page shows the new balance at once.
export async function loader({ request }: LoaderFunctionArgs) {
  const user = await requireUser(request);
  const sessionId = new URL(request.url).searchParams.get("session_id") ?? "";
  if (!/^cs_[A-Za-z0-9_]+$/.test(sessionId)) throw redirect("/settings/billing", { status: 303 });
  const { db, config } = getRuntime();
  try {
    const result = await fulfillCheckout(db, getStripeContext().stripe, config, sessionId);
    // The plan section waits (and looks again) for a subscription whose webhooks are still on the way.
    const billing = result.subscription ? "/settings/billing?subscribed=1" : "/settings/billing";
    if (result.userId !== user.id) {
      return redirectWithToast(request, "/settings/billing", { kind: "error", title: "That checkout belongs to another account." });
    }
    if (result.status === "granted" || result.status === "already_granted") {
      return redirectWithToast(request, billing, {
        kind: "success",
        title: `Payment received: ${result.credits} credits added`,
      });
    }
    if (result.status === "awaiting_payment") {
      return redirectWithToast(request, billing, {
        kind: "info",
        title: "Payment processing",
        description: "Your credits arrive as soon as the payment is confirmed.",
      });
    }
    return redirectWithToast(request, "/settings/billing", { kind: "error", title: "This checkout has expired." });
  } catch (error) {
    logger.error({ err: error, sessionId }, "fulfilment on the success page failed");
    return redirectWithToast(request, "/settings/billing", {
      kind: "info",
      title: "Payment received — confirming",
      description: "Your credits will appear shortly.",
    });
  }
}
