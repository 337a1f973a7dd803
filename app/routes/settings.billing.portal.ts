import type { ActionFunctionArgs } from "@remix-run/node";
import { redirect } from "@remix-run/node";
import { z } from "zod";
import { getOptionalUser } from "~/services/auth.server";
import { logger } from "~/services/logger.server";
import { openCustomerPortal } from "~/services/money/portal.server";
import { getRuntime } from "~/services/runtime.server";
import { getStripeContext } from "~/services/stripe.server";
import { redirectWithToast } from "~/services/toast.server";

// "Manage subscription" on the billing page posts here; the answer is a 303 to Stripe's Customer
// Portal (another origin), which comes back to /settings/billing. Cross-site posts never get this
// far (the Origin check in security.server.ts refuses them for every route).

const BILLING = "/settings/billing";

const PortalSchema = z.object({
  // The billing page's per-view token (base64url): one portal session per click.
  token: z.string().regex(/^[A-Za-z0-9_-]{8,64}$/),
});

export async function action({ request }: ActionFunctionArgs) {
  const user = await getOptionalUser(request);
  // After logging in, the billing page is where the button is: not this action's URL.
  if (!user) throw redirect(`/login?${new URLSearchParams({ redirectTo: BILLING })}`, { status: 303 });
  const parsed = PortalSchema.safeParse(Object.fromEntries(await request.formData()));
  if (!parsed.success) {
    return redirectWithToast(request, BILLING, { kind: "error", title: "That form has expired: reload the page and try again." });
  }
  const { config } = getRuntime();
  try {
    const portal = await openCustomerPortal(getStripeContext().stripe, config, { user, formToken: parsed.data.token });
    if (portal.ok) return redirect(portal.url, { status: 303 });
    return redirectWithToast(request, BILLING, { kind: "error", title: portal.message });
  } catch (error) {
    logger.error({ err: error, userId: user.id }, "could not open a Customer Portal session");
    return redirectWithToast(request, BILLING, { kind: "error", title: "The subscription portal could not be opened. Try again in a minute." });
  }
}

export async function loader() {
  return redirect(BILLING, { status: 303 });
}
