import { Link } from "@remix-run/react";
import type { Catalogue, CreditsBuy } from "~/services/money/catalogue.server";
import { describeDuration } from "~/utils/duration";
import { formatInterval, formatMoney } from "~/utils/format";
import { PackCheckoutForm, PlanCheckoutForm } from "./checkout-forms";

// The pieces of /pricing (and the billing page's plan list): figures arrive computed by the
// catalogue service; these only say them.

type Plan = Catalogue["plans"][number];
type Pack = Catalogue["packs"][number];

const n = (value: number) => value.toLocaleString("en-US");

export function priceText(item: { unitAmount: number | null; currency: string | null }): string {
  return item.unitAmount === null || !item.currency ? "price unavailable" : formatMoney(item.unitAmount, item.currency);
}

/** "month" for a monthly plan; a plan whose price Stripe could not give is still sold by the month. */
function periodOf(plan: Plan): string {
  return formatInterval(plan.interval, plan.intervalCount) || "month";
}

export function Buys({ buys }: { buys: CreditsBuy }) {
  return (
    <p className="text-sm text-slate-700">
      ≈ {n(buys.images)} images or {n(buys.videoSeconds["720p"])} seconds of 720p video ({n(buys.videoSeconds["1080p"])} s at 1080p)
    </p>
  );
}

/** What one credit of a pack costs: "$0.0083 per credit". Up to four decimals, since a cent per
 * credit or less is the usual figure and rounding it to $0.01 would hide the bulk discount. */
export function pricePerCreditText(item: { unitAmount: number | null; currency: string | null; credits: number }): string | null {
  if (item.unitAmount === null || !item.currency || item.credits <= 0) return null;
  try {
    const each = new Intl.NumberFormat("en-US", {
      style: "currency",
      currency: item.currency.toUpperCase(),
      minimumFractionDigits: 2,
      maximumFractionDigits: 4,
    }).format(item.unitAmount / 100 / item.credits);
    return `${each} per credit`;
  } catch {
    return null;
  }
}

export function rolloverText(plan: { rolloverCap: number; credits: number }, period: string): string {
  if (plan.rolloverCap <= 0) return `Unspent credits end with the ${period}: nothing rolls over.`;
  return `When the next ${period} is paid, up to ${n(plan.rolloverCap)} unspent credits roll over into it; the rest expire.`;
}

/** What a visitor who is not signed in gets instead of a checkout form: sign up, then back here. */
function SignUpFirst({ label, accessibleName, returnTo }: { label: string; accessibleName: string; returnTo: string }) {
  return (
    <Link to={`/signup?${new URLSearchParams({ redirectTo: returnTo })}`} className="btn-primary" aria-label={accessibleName}>
      {label}
    </Link>
  );
}

export type Buyer = { token: string; flagged: boolean; currentPlanId: string | null } | null;

export function PlanCard({ plan, buyer, returnTo }: { plan: Plan; buyer: Buyer; returnTo: string }) {
  const period = periodOf(plan);
  return (
    <li className="card flex flex-col gap-2" data-testid="plan-card" data-plan={plan.id}>
      <h3 className="text-lg font-semibold">{plan.name}</h3>
      <p>
        <span className="text-2xl font-bold">{priceText(plan)}</span> <span className="text-slate-700">per {period}</span>
      </p>
      <p className="font-medium">
        {n(plan.credits)} credits every {period}
      </p>
      <Buys buys={plan.buys} />
      <p className="text-sm text-slate-700">
        Credits last until the end of the {period} they pay for. {rolloverText(plan, period)}
      </p>
      <div className="mt-auto pt-2">
        {buyer === null ? (
          <SignUpFirst label="Sign up to subscribe" accessibleName={`Sign up to subscribe to ${plan.name}`} returnTo={returnTo} />
        ) : buyer.currentPlanId === plan.id ? (
          <p className="font-semibold text-emerald-900">
            Your plan.{" "}
            <Link to="/settings/billing" className="text-indigo-700 underline">
              Manage it on the billing page
            </Link>
          </p>
        ) : buyer.currentPlanId !== null ? (
          <p className="text-sm text-slate-700">
            To switch plans, use <span className="font-medium">Manage subscription</span> on the{" "}
            <Link to="/settings/billing" className="text-indigo-700 underline">
              billing page
            </Link>
            .
          </p>
        ) : (
          <PlanCheckoutForm plan={plan} token={buyer.token} disabled={buyer.flagged} />
        )}
      </div>
    </li>
  );
}

export function packLifetimeText(pack: { expiresAfterMs: number | null }): string {
  return pack.expiresAfterMs === null ? "These credits never expire." : `These credits expire ${describeDuration(pack.expiresAfterMs)} after purchase.`;
}

export function PackCard({ pack, buyer, returnTo }: { pack: Pack; buyer: Buyer; returnTo: string }) {
  return (
    <li className="card flex flex-col gap-2" data-testid="pack-card" data-pack={pack.id}>
      <h3 className="text-lg font-semibold">{pack.name}</h3>
      <p>
        <span className="text-2xl font-bold">{priceText(pack)}</span> <span className="text-slate-700">once</span>
      </p>
      <p className="font-medium">{n(pack.credits)} credits</p>
      <Buys buys={pack.buys} />
      <p className="text-sm text-slate-700">{packLifetimeText(pack)}</p>
      <div className="mt-auto pt-2">
        {buyer === null ? (
          <SignUpFirst label="Sign up to buy" accessibleName={`Sign up to buy ${pack.name}`} returnTo={returnTo} />
        ) : (
          <PackCheckoutForm pack={pack} token={buyer.token} disabled={buyer.flagged} />
        )}
      </div>
    </li>
  );
}

export function CreditCosts({ imageCost, videoClips }: Pick<Catalogue, "imageCost" | "videoClips">) {
  return (
    <div className="space-y-3">
      <p>
        An image costs <strong>{n(imageCost)} credits</strong>, whatever its size. A video is priced by its length and resolution,
        rounded up to a whole credit:
      </p>
      <div className="overflow-x-auto">
        <table className="min-w-[16rem] text-left text-sm" data-testid="video-costs">
          <caption className="sr-only">Credits a video costs, by length and resolution</caption>
          <thead>
            <tr className="border-b border-slate-300">
              <th scope="col" className="py-1 pr-6">
                Length
              </th>
              <th scope="col" className="py-1 pr-6">
                720p
              </th>
              <th scope="col" className="py-1">
                1080p
              </th>
            </tr>
          </thead>
          <tbody>
            {videoClips.map((clip) => (
              <tr key={clip.seconds} className="border-b border-slate-200">
                <th scope="row" className="py-1 pr-6 font-medium">
                  {clip.seconds} s
                </th>
                <td className="py-1 pr-6 tabular-nums">{n(clip.cost["720p"])} credits</td>
                <td className="py-1 tabular-nums">{n(clip.cost["1080p"])} credits</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <p className="text-sm text-slate-700">A generation that fails costs nothing: its credits are given back.</p>
    </div>
  );
}

export function ExpiryRules({ signupBonus }: Pick<Catalogue, "signupBonus">) {
  return (
    <ul className="list-disc space-y-1 pl-5">
      <li>
        <strong>Plan credits</strong> last until the end of the period they pay for. When the next period is paid, unspent plan
        credits up to the plan&apos;s rollover cap move into it; the rest expire. If a renewal is not paid, nothing rolls over.
      </li>
      <li>
        <strong>Pack credits</strong> never expire, unless the pack says otherwise.
      </li>
      {signupBonus.credits > 0 ? (
        <li>
          <strong>The sign-up bonus</strong> ({n(signupBonus.credits)} credits, when you confirm your e-mail address){" "}
          {signupBonus.expiresAfterMs === null ? "never expires." : `expires ${describeDuration(signupBonus.expiresAfterMs)} after it arrives.`}
        </li>
      ) : null}
      <li>
        <strong>Credits from a redeem code</strong> last as long as the code says.
      </li>
      <li>
        <strong>Spending takes the credits that expire soonest first</strong>, then the oldest; credits that never expire are spent
        last. The billing page shows when your next credits expire.
      </li>
    </ul>
  );
}
