import type { LoaderFunctionArgs } from "@remix-run/node";
import { json } from "@remix-run/node";
import { Link, useLoaderData } from "@remix-run/react";
import { getOptionalUser } from "~/services/auth.server";
import { getCatalogue } from "~/services/money/catalogue.server";
import { getRuntime } from "~/services/runtime.server";
import { EXAMPLE_SIZE, LANDING_EXAMPLES } from "~/services/site/landing-examples.server";
import { getStripeContext } from "~/services/stripe.server";
import { formatInterval, formatMoney } from "~/utils/format";

type Offer = { label: string; price: string; credits: number };

export async function loader({ request }: LoaderFunctionArgs) {
  const user = await getOptionalUser(request);
  const { config } = getRuntime();
  // Prices in money come from the one catalogue the pricing page and checkout use; a price Stripe
  // did not give (unitAmount null) is left out rather than guessed.
  const catalogue = await getCatalogue(getStripeContext().stripe, config);
  const offers: Offer[] = [
    ...catalogue.packs.map((p) =>
      p.unitAmount !== null && p.currency ? { label: p.name && !p.name.includes(String(p.credits)) ? p.name : "Credit pack", price: formatMoney(p.unitAmount, p.currency), credits: p.credits } : null,
    ),
    ...catalogue.plans.map((p) =>
      p.unitAmount !== null && p.currency
        ? { label: `${p.name} plan`, price: `${formatMoney(p.unitAmount, p.currency)} a ${formatInterval(p.interval, p.intervalCount)}`, credits: p.credits }
        : null,
    ),
  ].filter((o): o is Offer => o !== null);
  // (A pack's default name is "500 credits": "Credit pack" then, so the count is not said twice.)
  return json({
    signedIn: Boolean(user),
    bonus: config.SIGNUP_BONUS_CREDITS,
    imageCost: catalogue.imageCost,
    offers,
    examples: LANDING_EXAMPLES.map((e) => ({ src: `/examples/${e.slug}.png`, prompt: e.prompt, size: EXAMPLE_SIZE })),
  });
}

export default function Index() {
  const { signedIn, bonus, imageCost, offers, examples } = useLoaderData<typeof loader>();
  return (
    <div className="space-y-8">
      <section className="space-y-4">
        <h1 className="text-3xl font-bold">Generate images and videos with credits</h1>
        <p className="max-w-prose text-slate-700">
          Write a prompt, get a picture or a short video. You pay in credits: an image costs {imageCost} credits, and a generation
          that fails costs nothing. New accounts start with {bonus} free credits.
        </p>
        <p className="flex flex-wrap gap-3">
          {signedIn ? (
            <Link to="/generate" className="btn-primary">
              Start generating
            </Link>
          ) : (
            <>
              <Link to="/signup" className="btn-primary">
                Create an account
              </Link>
              <Link to="/login" className="btn-secondary">
                Log in
              </Link>
            </>
          )}
        </p>
      </section>

      <section aria-labelledby="examples-heading" className="space-y-3">
        <h2 id="examples-heading" className="text-xl font-semibold">
          Made with the built-in generator
        </h2>
        <ul className="grid gap-4 sm:grid-cols-3">
          {examples.map((e) => (
            <li key={e.src} className="card space-y-2 p-3 sm:p-3">
              <img src={e.src} alt={`Generated for the prompt: ${e.prompt}`} width={e.size} height={e.size} className="h-auto w-full rounded-md" loading="lazy" />
              <p className="text-sm text-slate-700">“{e.prompt}”</p>
            </li>
          ))}
        </ul>
      </section>

      {offers.length > 0 ? (
        <section aria-labelledby="prices-heading" className="space-y-3">
          <h2 id="prices-heading" className="text-xl font-semibold">
            What it costs
          </h2>
          <ul className="grid gap-3 sm:grid-cols-2" data-testid="landing-offers">
            {offers.map((o) => (
              <li key={o.label} className="card flex items-baseline justify-between gap-3">
                <span className="font-medium">
                  {o.label} · {o.credits.toLocaleString("en-US")} credits
                </span>
                <span className="font-semibold">{o.price}</span>
              </li>
            ))}
          </ul>
          <p>
            <Link to="/pricing" className="text-indigo-700 underline">
              See plans, packs and what a credit buys
            </Link>
          </p>
        </section>
      ) : null}
    </div>
  );
}
