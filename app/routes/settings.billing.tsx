import crypto from "node:crypto";
import type { LoaderFunctionArgs, MetaFunction } from "@remix-run/node";
import { json } from "@remix-run/node";
import { Form, useLoaderData, useNavigation } from "@remix-run/react";
import { requireUser } from "~/services/auth.server";
import { listPacksWithPrices } from "~/services/billing.server";
import { getBalance } from "~/services/credits.server";
import { getRuntime } from "~/services/runtime.server";
import { getStripeContext } from "~/services/stripe.server";

export const meta: MetaFunction = () => [{ title: "Billing · Credits Studio" }];

export async function loader({ request }: LoaderFunctionArgs) {
  const user = await requireUser(request);
  const { db, config } = getRuntime();
  const { balance, onHold } = getBalance(db, user.id);
  const packs = await listPacksWithPrices(getStripeContext().stripe, config);
  return json({
    balance,
    onHold,
    flagged: Boolean(user.flaggedAt),
    packs,
    // One token per page view: a double-submitted Buy form reuses the same Checkout Session.
    checkoutToken: crypto.randomBytes(12).toString("base64url"),
  });
}

function formatPrice(unitAmount: number | null, currency: string | null) {
  if (unitAmount === null || !currency) return "price unavailable";
  return new Intl.NumberFormat("en", { style: "currency", currency: currency.toUpperCase() }).format(unitAmount / 100);
}

export default function Billing() {
  const { balance, onHold, packs, checkoutToken, flagged } = useLoaderData<typeof loader>();
  const navigation = useNavigation();
  const buying = navigation.state !== "idle" && navigation.formAction === "/api/stripe/checkout";
  return (
    <div className="space-y-6">
      <h1 className="text-2xl font-bold">Billing</h1>
      <section className="card" aria-labelledby="balance-heading">
        <h2 id="balance-heading" className="text-lg font-semibold">
          Balance
        </h2>
        <p className="mt-2 text-3xl font-bold" data-testid="billing-balance">
          {balance} credits
        </p>
        {onHold > 0 ? <p className="text-sm text-slate-700">{onHold} credits on hold for running generations</p> : null}
        {flagged ? (
          <p className="mt-2 text-sm font-semibold text-red-800" role="alert">
            This account is on hold because of a disputed payment. Contact support.
          </p>
        ) : null}
      </section>
      <section aria-labelledby="packs-heading">
        <h2 id="packs-heading" className="text-lg font-semibold">
          Credit packs
        </h2>
        <ul className="mt-2 grid gap-4 sm:grid-cols-2">
          {packs.map((pack) => (
            <li key={pack.id} className="card flex items-center justify-between gap-4">
              <div>
                <p className="font-semibold">{pack.name}</p>
                <p className="text-sm text-slate-700">
                  {pack.credits} credits · {formatPrice(pack.unitAmount, pack.currency)}
                </p>
              </div>
              <Form method="post" action="/api/stripe/checkout" reloadDocument>
                <input type="hidden" name="pack" value={pack.id} />
                <input type="hidden" name="token" value={checkoutToken} />
                <button type="submit" className="btn-primary" disabled={buying || flagged} aria-label={`Buy ${pack.name}`}>
                  Buy credits
                </button>
              </Form>
            </li>
          ))}
        </ul>
      </section>
    </div>
  );
}
