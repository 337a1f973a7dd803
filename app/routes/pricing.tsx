import crypto from "node:crypto";
import type { HeadersFunction, LoaderFunctionArgs, MetaFunction } from "@remix-run/node";
import { json } from "@remix-run/node";
import { Link, useLoaderData } from "@remix-run/react";
import { CreditCosts, ExpiryRules, PackCard, PlanCard, type Buyer } from "~/components/pricing";
import { getOptionalUser } from "~/services/auth.server";
import { getCatalogue } from "~/services/money/catalogue.server";
import { getSubscriptionView } from "~/services/money/subscription-view.server";
import { getRuntime } from "~/services/runtime.server";
import { getStripeContext } from "~/services/stripe.server";

// A signed-in page carries a form token and the root's flash message: no cache may keep it.
export const headers: HeadersFunction = () => ({ "Cache-Control": "private, no-store" });

export const meta: MetaFunction = () => [
  { title: "Pricing · Credits Studio" },
  { name: "description", content: "Plans and credit packs, what a credit buys, and how long credits last." },
];

/** Where sign-up and log-in send a visitor back to: this page. */
const RETURN_TO = "/pricing";

/** Subscriptions that still bill or may bill again; an ended one leaves the visitor free to subscribe. */
const ENDED = new Set(["canceled", "incomplete_expired"]);

export async function loader({ request }: LoaderFunctionArgs) {
  const user = await getOptionalUser(request);
  const { db, config } = getRuntime();
  const catalogue = await getCatalogue(getStripeContext().stripe, config);
  let buyer: Buyer = null;
  if (user) {
    const { subscription } = await getSubscriptionView(db, config, user.id);
    const live = subscription && !ENDED.has(subscription.status) ? subscription : null;
    buyer = {
      // One token per page view: a double-submitted form reuses the same Checkout Session.
      token: crypto.randomBytes(12).toString("base64url"),
      flagged: Boolean(user.flaggedAt),
      // A live subscription on a plan no longer offered still blocks a second subscription.
      currentPlanId: live ? (live.planId ?? "") : null,
    };
  }
  return json({ catalogue, buyer }, { headers: { "Cache-Control": "private, no-store" } });
}

export default function Pricing() {
  const { catalogue, buyer } = useLoaderData<typeof loader>();
  const { plans, packs } = catalogue;
  return (
    <div className="space-y-10">
      <header className="space-y-2">
        <h1 className="text-3xl font-bold">Pricing</h1>
        <p className="max-w-prose text-slate-700">
          Everything is paid in credits: subscribe to a plan for credits every month, or buy a pack once. A generation that fails
          costs nothing.
        </p>
        {buyer === null ? (
          <p className="text-slate-700">
            Already have an account?{" "}
            <Link to={`/login?${new URLSearchParams({ redirectTo: RETURN_TO })}`} className="text-indigo-700 underline">
              Log in to buy
            </Link>
          </p>
        ) : buyer.flagged ? (
          <p className="font-semibold text-red-800" role="alert">
            This account is on hold because of a disputed payment. Contact support.
          </p>
        ) : null}
      </header>

      {plans.length > 0 ? (
        <section aria-labelledby="plans-heading" className="space-y-3">
          <h2 id="plans-heading" className="text-xl font-semibold">
            Plans
          </h2>
          <ul className="grid gap-4 sm:grid-cols-2 lg:grid-cols-3">
            {plans.map((plan) => (
              <PlanCard key={plan.id} plan={plan} buyer={buyer} returnTo={RETURN_TO} />
            ))}
          </ul>
        </section>
      ) : null}

      <section aria-labelledby="packs-heading" className="space-y-3">
        <h2 id="packs-heading" className="text-xl font-semibold">
          Credit packs
        </h2>
        <ul className="grid gap-4 sm:grid-cols-2 lg:grid-cols-3">
          {packs.map((pack) => (
            <PackCard key={pack.id} pack={pack} buyer={buyer} returnTo={RETURN_TO} />
          ))}
        </ul>
      </section>

      <section aria-labelledby="costs-heading" className="card space-y-3">
        <h2 id="costs-heading" className="text-xl font-semibold">
          What a credit buys
        </h2>
        <CreditCosts imageCost={catalogue.imageCost} videoClips={catalogue.videoClips} />
      </section>

      <section aria-labelledby="expiry-heading" className="card space-y-3">
        <h2 id="expiry-heading" className="text-xl font-semibold">
          How long credits last
        </h2>
        <ExpiryRules signupBonus={catalogue.signupBonus} />
      </section>
    </div>
  );
}
