import { useEffect } from "react";
import { Form, Link, useNavigation, useRevalidator } from "@remix-run/react";
import type { Catalogue } from "~/services/money/catalogue.server";
import type { SubscriptionView } from "~/services/money/subscription-view.server";
import { formatUtc } from "./history-table";
import { PlanCard } from "./pricing";

// The billing page's "Plan" section: the user's subscription as the webhooks last described it
// (subscription-view.server.ts), or the plans to subscribe to.

const PORTAL_ACTION = "/settings/billing/portal";

const STATUS_LABELS: Record<string, { label: string; className: string }> = {
  active: { label: "Active", className: "bg-emerald-100 text-emerald-950" },
  trialing: { label: "Trial", className: "bg-emerald-100 text-emerald-950" },
  past_due: { label: "Past due", className: "bg-red-100 text-red-950" },
  unpaid: { label: "Unpaid", className: "bg-red-100 text-red-950" },
  incomplete: { label: "Incomplete", className: "bg-amber-100 text-amber-950" },
  canceled: { label: "Canceled", className: "bg-slate-200 text-slate-900" },
  incomplete_expired: { label: "Canceled", className: "bg-slate-200 text-slate-900" },
};

/** A subscription that bills no more: the user may subscribe again. */
export function hasEnded(status: string): boolean {
  return status === "canceled" || status === "incomplete_expired";
}

/** How many times the page looks again for a new subscription (every 2 s) before it stops. */
const ARRIVAL_ROUNDS = 15;
const ARRIVAL_POLL_MS = 2000;

/**
 * Back from a paid subscription checkout before its webhooks: says the plan is on its way and
 * looks again, with JavaScript by revalidating, without it by a meta refresh that counts its
 * rounds in the URL, so neither runs for ever if Stripe's events are late.
 */
export function SubscriptionArriving({ round }: { round: number }) {
  const revalidator = useRevalidator();
  const more = round < ARRIVAL_ROUNDS;
  useEffect(() => {
    if (!more) return;
    let left = ARRIVAL_ROUNDS - round;
    const timer = setInterval(() => {
      if (left-- <= 0) return clearInterval(timer);
      if (revalidator.state === "idle") revalidator.revalidate();
    }, ARRIVAL_POLL_MS);
    return () => clearInterval(timer);
  }, [more, round, revalidator]);
  return (
    <div role="status" className="rounded-md bg-sky-50 p-3 text-sm text-sky-900 ring-1 ring-sky-300" data-testid="subscription-arriving">
      {more ? (
        <noscript>
          <meta httpEquiv="refresh" content={`${ARRIVAL_POLL_MS / 1000};url=/settings/billing?subscribed=${round + 1}`} />
        </noscript>
      ) : null}
      <p className="font-semibold">Thank you: your subscription is being set up.</p>
      <p>
        {more
          ? "It appears here as soon as Stripe confirms the payment, usually within seconds."
          : "Stripe has not confirmed it yet. Reload this page in a minute; you are not charged twice."}
      </p>
    </div>
  );
}

function ManageSubscriptionForm({ token }: { token: string }) {
  const navigation = useNavigation();
  const busy = navigation.state !== "idle" && navigation.formAction === PORTAL_ACTION;
  return (
    // reloadDocument: the answer is a redirect to Stripe's portal, another origin.
    <Form method="post" action={PORTAL_ACTION} reloadDocument>
      <input type="hidden" name="token" value={token} />
      <button type="submit" className="btn-secondary" disabled={busy}>
        Manage subscription
      </button>
    </Form>
  );
}

type Summary = NonNullable<SubscriptionView["subscription"]>;

function LiveSubscription({ subscription, lastFailedInvoice, token }: { subscription: Summary; lastFailedInvoice: SubscriptionView["lastFailedInvoice"]; token: string }) {
  const status = STATUS_LABELS[subscription.status] ?? { label: subscription.status, className: "bg-slate-200 text-slate-900" };
  const end = subscription.currentPeriodEnd;
  return (
    <div className="card space-y-3" data-testid="subscription">
      <div className="flex flex-wrap items-center gap-3">
        <p className="text-lg font-semibold" data-testid="subscription-plan">
          {subscription.planName ? `${subscription.planName} plan` : "A plan no longer offered"}
        </p>
        <span className={`rounded-full px-2 py-0.5 text-sm font-semibold ${status.className}`} data-testid="subscription-status">
          {status.label}
        </span>
      </div>
      {end !== null ? (
        <p data-testid="subscription-renewal">
          {subscription.cancelAtPeriodEnd ? `Ends on ${formatUtc(end, false)}` : `Renews on ${formatUtc(end, false)}`}
          <span className="text-sm text-slate-700">
            {subscription.cancelAtPeriodEnd
              ? ". Nothing more is charged; its credits last until then."
              : ". Each paid month brings the plan's credits."}
          </span>
        </p>
      ) : null}
      {lastFailedInvoice ? (
        <div role="alert" className="rounded-md bg-red-50 p-3 text-sm text-red-900 ring-1 ring-red-300" data-testid="subscription-payment-failed">
          <p className="font-semibold">The payment for your plan failed on {formatUtc(lastFailedInvoice.at)} UTC.</p>
          <p>
            Nothing was charged and this period&apos;s credits have not arrived. Open Manage subscription to update your card; the
            credits arrive as soon as the payment goes through.
          </p>
        </div>
      ) : null}
      <ManageSubscriptionForm token={token} />
    </div>
  );
}

export function PlanSection({
  view,
  plans,
  token,
  flagged,
}: {
  view: Pick<SubscriptionView, "subscription" | "lastFailedInvoice">;
  plans: Catalogue["plans"];
  token: string;
  flagged: boolean;
}) {
  const { subscription } = view;
  const live = subscription && !hasEnded(subscription.status) ? subscription : null;
  return (
    <section aria-labelledby="plan-heading" className="space-y-3" data-testid="plan-section">
      <h2 id="plan-heading" className="text-lg font-semibold">
        Plan
      </h2>
      {live ? (
        <LiveSubscription subscription={live} lastFailedInvoice={view.lastFailedInvoice} token={token} />
      ) : (
        <>
          {subscription ? (
            <p className="text-sm text-slate-700" data-testid="subscription-ended">
              Your {subscription.planName ? `${subscription.planName} ` : ""}plan has ended{subscription.currentPeriodEnd !== null ? ` (${formatUtc(subscription.currentPeriodEnd, false)})` : ""}.
              You can subscribe again.
            </p>
          ) : null}
          {plans.length > 0 ? (
            <ul className="grid gap-4 sm:grid-cols-2">
              {plans.map((plan) => (
                <PlanCard key={plan.id} plan={plan} buyer={{ token, flagged, currentPlanId: null }} returnTo="/settings/billing" />
              ))}
            </ul>
          ) : (
            <p className="text-sm text-slate-700">No plans are offered at the moment.</p>
          )}
          <p className="text-sm text-slate-700">
            <Link to="/pricing" className="text-indigo-700 underline">
              Compare plans and packs
            </Link>
          </p>
        </>
      )}
    </section>
  );
}
