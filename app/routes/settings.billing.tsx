import crypto from "node:crypto";
import type { ActionFunctionArgs, LoaderFunctionArgs, MetaFunction } from "@remix-run/node";
import { json } from "@remix-run/node";
import { Form, useLoaderData, useLocation, useNavigation } from "@remix-run/react";
import { BalanceAlertForm } from "~/components/balance-alert-form";
import { AutoRechargeSection } from "~/components/auto-recharge-section";
import { PackCheckoutForm } from "~/components/checkout-forms";
import { hasEnded, PlanSection, SubscriptionArriving } from "~/components/plan-section";
import { CreditsChart } from "~/components/credits-chart";
import { Buys, pricePerCreditText } from "~/components/pricing";
import { formatCredits, formatUtc, HistoryTable, Pager, TYPE_LABELS, withParams } from "~/components/history-table";
import { RedeemCodeForm } from "~/components/redeem-code-form";
import { balanceAlertFormAction } from "~/http/balance-alert.server";
import { autoRechargeFormAction } from "~/http/auto-recharge.server";
import { redeemFormAction } from "~/http/redeem.server";
import { getBalanceAlert } from "~/services/alerts/balance-alerts.server";
import { requireUser } from "~/services/auth.server";
import { getAutoRecharge } from "~/services/money/auto-recharge-settings.server";
import { getCatalogue } from "~/services/money/catalogue.server";
import { getCreditsChart, listHistoryPage, parseHistoryQuery } from "~/services/billing-dashboard.server";
import { listUnsettledCheckouts } from "~/services/money/checkout-attempts.server";
import { readBalance } from "~/services/money/ledger.server";
import { getSubscriptionView } from "~/services/money/subscription-view.server";
import { getRuntime } from "~/services/runtime.server";
import { getStripeContext } from "~/services/stripe.server";
import { formatMoney } from "~/utils/format";

export const meta: MetaFunction = () => [{ title: "Billing · Credits Studio" }];

export async function loader({ request }: LoaderFunctionArgs) {
  const user = await requireUser(request);
  const { db, config } = getRuntime();
  const query = parseHistoryQuery(new URL(request.url));
  const { balance, onHold, nextExpiry } = await readBalance(db, user.id);
  const { packs, plans } = await getCatalogue(getStripeContext().stripe, config);
  const { subscription, lastFailedInvoice } = await getSubscriptionView(db, config, user.id);
  // Stripe sends a new subscriber back with ?subscribed=<n>; the subscription arrives by webhook,
  // usually within a second or two. Until then the page says so and looks again (n: how often).
  const subscribedParam = new URL(request.url).searchParams.get("subscribed");
  const waitingRound = subscribedParam && /^[1-9][0-9]?$/.test(subscribedParam) && !(subscription && !hasEnded(subscription.status)) ? Number(subscribedParam) : null;
  return json(
    {
      balance,
      onHold,
      nextExpiry,
      flagged: Boolean(user.flaggedAt),
      packs,
      plans,
      subscriptionView: { subscription, lastFailedInvoice },
      waitingRound,
      payments: (await listUnsettledCheckouts(db, user.id)).map((p) => ({
        sessionId: p.sessionId,
        status: p.status,
        credits: p.credits,
        price: p.amountTotal !== null && p.currency ? formatMoney(p.amountTotal, p.currency) : null,
        createdAt: p.createdAt,
      })),
      // One token per page view: a double-submitted Buy or Subscribe form reuses the same Checkout
      // Session, a double-submitted Manage subscription form the same portal session.
      checkoutToken: crypto.randomBytes(12).toString("base64url"),
      type: query.type ?? null,
      history: await listHistoryPage(db, { userId: user.id, type: query.type, older: query.older, newer: query.newer }),
      chart: await getCreditsChart(db, user.id),
      balanceAlert: await getBalanceAlert(db, user.id),
      autoRecharge: await getAutoRecharge(db, user.id),
      // The auto-recharge mail's link: a refused payment, to be paid here (Buy: a normal Checkout).
      rechargeFailed: new URL(request.url).searchParams.get("recharge") === "failed",
    },
    { headers: { "Cache-Control": "private, no-store" } },
  );
}

// Each form of the page says which it is with `intent`; redeeming a code is intent=redeem.
export async function action(args: ActionFunctionArgs) {
  const formData = await args.request.formData();
  const redeemed = await redeemFormAction(args, formData);
  if (redeemed) return redeemed;
  const alert = await balanceAlertFormAction(args, formData);
  if (alert) return alert;
  const recharge = await autoRechargeFormAction(args, formData);
  if (recharge) return recharge;
  throw new Response("Unknown form", { status: 400 });
}

function formatPrice(unitAmount: number | null, currency: string | null) {
  if (unitAmount === null || !currency) return "price unavailable";
  return formatMoney(unitAmount, currency);
}

export default function Billing() {
  const { balance, onHold, nextExpiry, packs, plans, subscriptionView, waitingRound, payments, checkoutToken, flagged, history, chart, type, balanceAlert, autoRecharge, rechargeFailed } = useLoaderData<typeof loader>();
  const navigation = useNavigation();
  const location = useLocation();
  const loadingHistory = navigation.state === "loading" && navigation.location.pathname === location.pathname;
  return (
    <div className="space-y-8">
      <h1 className="text-2xl font-bold">Billing</h1>
      <section className="card" aria-labelledby="balance-heading">
        <h2 id="balance-heading" className="text-lg font-semibold">
          Balance
        </h2>
        <p className="mt-2 text-3xl font-bold" data-testid="billing-balance">
          {balance} credits
        </p>
        <p className="mt-1 text-sm text-slate-700" data-testid="billing-on-hold">
          {formatCredits(onHold)} credits on hold{onHold > 0 ? " for running generations (given back if they fail)" : ""}
        </p>
        {nextExpiry ? (
          <p className="mt-1 text-sm font-medium text-amber-900" data-testid="billing-next-expiry">
            {formatCredits(nextExpiry.amount)} credits expire on {formatUtc(nextExpiry.expiresAt, false)}
          </p>
        ) : null}
        {flagged ? (
          <p className="mt-2 text-sm font-semibold text-red-800" role="alert">
            This account is on hold because of a disputed payment. Contact support.
          </p>
        ) : null}
      </section>
      <RedeemCodeForm disabled={flagged} />
      <BalanceAlertForm thresholdCredits={balanceAlert.thresholdCredits} below={balanceAlert.below} />
      {payments.length > 0 ? (
        <section aria-labelledby="payments-heading" className="card" data-testid="unsettled-payments">
          <h2 id="payments-heading" className="text-lg font-semibold">
            Recent payments
          </h2>
          <ul className="mt-2 space-y-1 text-sm">
            {payments.map((p) => (
              <li key={p.sessionId} data-status={p.status}>
                <span className="font-semibold">{p.status === "failed" ? "Payment failed: nothing was charged." : "Payment processing."}</span>{" "}
                {p.credits} credits{p.price ? ` for ${p.price}` : ""}, started{" "}
                <time dateTime={new Date(p.createdAt).toISOString()}>{new Date(p.createdAt).toISOString().slice(0, 16).replace("T", " ")} UTC</time>
                {p.status === "processing" ? ". The credits arrive as soon as the payment is confirmed." : ". You can try again with another payment method."}
              </li>
            ))}
          </ul>
        </section>
      ) : null}
      {waitingRound !== null ? <SubscriptionArriving round={waitingRound} /> : null}
      <PlanSection view={subscriptionView} plans={plans} token={checkoutToken} flagged={flagged} />
      <AutoRechargeSection view={autoRecharge} packs={packs} token={checkoutToken} disabled={flagged} />
      <section aria-labelledby="packs-heading">
        <h2 id="packs-heading" className="text-lg font-semibold">
          Credit packs
        </h2>
        {rechargeFailed ? (
          <p className="mt-1 text-sm font-medium text-amber-900" data-testid="recharge-failed-notice">
            Your auto-recharge payment did not go through and nothing was charged. Buy the pack here to pay now.
          </p>
        ) : null}
        <ul className="mt-2 grid gap-4 sm:grid-cols-2">
          {packs.map((pack) => (
            <li key={pack.id} className="card flex items-center justify-between gap-4">
              <div>
                <p className="font-semibold">{pack.name}</p>
                <p className="text-sm text-slate-700">
                  {pack.credits} credits · {formatPrice(pack.unitAmount, pack.currency)}
                  {pricePerCreditText(pack) ? <span data-testid="pack-per-credit"> · {pricePerCreditText(pack)}</span> : null}
                </p>
                <div data-testid="pack-buys">
                  <Buys buys={pack.buys} />
                </div>
              </div>
              <PackCheckoutForm pack={pack} token={checkoutToken} disabled={flagged} offerSaveCard />
            </li>
          ))}
        </ul>
      </section>
      <section aria-label="Credits in the last 30 days">
        <CreditsChart
          id="credits-chart"
          title="Credits bought and spent, last 30 days (UTC)"
          days={chart.map((d) => d.day)}
          series={[
            { key: "bought", label: "Bought", color: "indigo-700", values: chart.map((d) => d.bought) },
            { key: "spent", label: "Spent", color: "red-700", values: chart.map((d) => d.spent) },
          ]}
        />
      </section>
      <section aria-labelledby="history-heading" className="space-y-3">
        <div className="flex flex-wrap items-end justify-between gap-3">
          <h2 id="history-heading" className="text-lg font-semibold">
            History
          </h2>
          {/* A resource route streaming CSV: a plain link (download), not client-side navigation. */}
          <a className="btn-secondary" href="/settings/billing/history.csv" download>
            Download CSV<span className="sr-only"> of the whole history</span>
          </a>
        </div>
        <Form method="get" className="flex flex-wrap items-end gap-2" preventScrollReset>
          <div>
            <label htmlFor="history-type" className="label">
              Type
            </label>
            <select id="history-type" name="type" defaultValue={type ?? ""} className="input mt-1 w-48" key={type ?? ""}>
              <option value="">All types</option>
              {Object.entries(TYPE_LABELS).map(([value, label]) => (
                <option key={value} value={value}>
                  {label}
                </option>
              ))}
            </select>
          </div>
          <button type="submit" className="btn-secondary">
            Show
          </button>
        </Form>
        <div aria-busy={loadingHistory} className={loadingHistory ? "opacity-60" : undefined}>
          <HistoryTable
            id="history"
            caption={
              type
                ? `${TYPE_LABELS[type]} transactions, newest first. Pending: on hold; refunded: given back.`
                : "Every credit movement, newest first. Pending: on hold; refunded: given back."
            }
            rows={history.rows}
            receipts
            empty={type ? "No transactions of this type." : "No transactions yet."}
          />
        </div>
        <Pager
          label="History pages"
          first={history.newer ? withParams(location.search, { older: null, newer: null }) : null}
          previous={history.newer ? withParams(location.search, { newer: history.newer, older: null }) : null}
          next={history.older ? withParams(location.search, { older: history.older, newer: null }) : null}
        />
      </section>
    </div>
  );
}
