import type Stripe from "stripe";
import { CUSTOMER_ACTION, idOf, type AccountCore, type RequestContext } from "./account-core.server";
import type { PortalSessionCreateParams } from "./billing-params.server";
import { invalidRequest } from "./errors.server";
import { derivedId, newId } from "./ids.server";
import { buildPortalSession } from "./billing-objects.server";
import type { createSubscriptions } from "./subscriptions.server";

/**
 * Customer Portal sessions: the merchant creates one for a customer (`POST
 * /v1/billing_portal/sessions`) and sends the browser to its `url`, a page of the emulator
 * (portal-pages.server.ts) where that customer, and only that customer, switches a
 * subscription's plan among the catalogue's recurring prices or cancels it at the end of the
 * period (or takes the cancellation back). Each change is a `customer.subscription.updated`.
 */

/** The one portal configuration (not retrievable): plan switches and cancel-at-period-end. */
export const DEFAULT_PORTAL_CONFIGURATION = derivedId("bpc_", "stripe-emulator default portal configuration");

export type PortalAction =
  | { action: "switch_plan"; subscription: string; price: string }
  | { action: "cancel"; subscription: string }
  | { action: "renew"; subscription: string };

type Subscriptions = Pick<ReturnType<typeof createSubscriptions>, "listSubscriptions" | "updateSubscription">;

export function createPortalSessions(core: AccountCore, subscriptions: Subscriptions) {
  const { store, emit, lookup, nowSeconds, publicUrl } = core;

  function createPortalSession(params: PortalSessionCreateParams, context: RequestContext): Stripe.BillingPortal.Session {
    return store.transaction(() => {
      const customer = lookup("customer", params.customer, "customer");
      const id = newId.portalSession();
      const session = buildPortalSession({
        id,
        created: nowSeconds(),
        customer: customer.id,
        configuration: DEFAULT_PORTAL_CONFIGURATION,
        returnUrl: params.return_url ?? null,
        locale: (params.locale as Stripe.BillingPortal.Session.Locale | undefined) ?? null,
        url: `${publicUrl}/portal/${id}`,
      });
      store.putObject(session, customer.id);
      emit("billing_portal.session.created", session, context);
      return session;
    });
  }

  /** What the portal page shows: the session's customer, their live subscriptions, the plans on offer. */
  function portalView(sessionId: string):
    | { session: Stripe.BillingPortal.Session; customer: Stripe.Customer; subscriptions: Stripe.Subscription[]; plans: Stripe.Price[] }
    | undefined {
    const session = store.getObject("billing_portal.session", sessionId);
    if (!session) return undefined;
    const customer = store.getObject("customer", session.customer);
    if (!customer) return undefined;
    const plans = store.listObjects("price").filter((price) => price.active && price.recurring);
    return { session, customer, subscriptions: subscriptions.listSubscriptions({ customer: customer.id }), plans };
  }

  /** A change the customer makes on the portal page, to one of their own subscriptions only. */
  function portalAction(sessionId: string, request: PortalAction): Stripe.Subscription {
    const view = portalView(sessionId);
    if (!view) throw invalidRequest("No such portal session.", { status: 404 });
    const subscription = view.subscriptions.find((candidate) => candidate.id === request.subscription);
    if (!subscription || idOf(subscription.customer) !== view.customer.id) {
      throw invalidRequest("This portal session has no such subscription.", { status: 404 });
    }
    if (request.action === "switch_plan") {
      if (!view.plans.some((price) => price.id === request.price)) {
        throw invalidRequest("That plan is not offered.", { param: "price" });
      }
      return subscriptions.updateSubscription(
        subscription.id,
        { items: [{ id: subscription.items.data[0].id, price: request.price }] },
        CUSTOMER_ACTION,
      );
    }
    return subscriptions.updateSubscription(
      subscription.id,
      { cancel_at_period_end: request.action === "cancel" },
      CUSTOMER_ACTION,
    );
  }

  return { createPortalSession, portalView, portalAction };
}
