import type { LoaderFunctionArgs, MetaFunction } from "@remix-run/node";
import { json } from "@remix-run/node";
import { useLoaderData } from "@remix-run/react";
import { CreditsChart } from "~/components/credits-chart";
import { captionClass, Cell, formatCredits, ScrollTable, tableClass, tbodyClass, td, th, theadClass, trClass } from "~/components/history-table";
import { getOverview } from "~/services/admin/overview.server";
import { formatMoney } from "~/utils/format";
import { requireAdmin } from "~/services/auth.server";
import { getRuntime } from "~/services/runtime.server";

export const meta: MetaFunction = () => [{ title: "Overview · Admin · Credits Studio" }];

export async function loader({ request }: LoaderFunctionArgs) {
  await requireAdmin(request);
  return json(await getOverview(getRuntime().db), { headers: { "Cache-Control": "private, no-store" } });
}

function money(revenue: Record<string, number>): string {
  const parts = Object.entries(revenue).map(([currency, minor]) => formatMoney(minor, currency));
  return parts.length ? parts.join(" + ") : "—";
}

function Figure({ label, value, hint, testId }: { label: string; value: string; hint?: string; testId?: string }) {
  return (
    <div className="card">
      <dt className="text-sm text-slate-700">{label}</dt>
      <dd className="mt-1 text-2xl font-bold tabular-nums" data-testid={testId}>
        {value}
      </dd>
      {hint ? <dd className="mt-1 text-xs text-slate-700">{hint}</dd> : null}
    </div>
  );
}

export default function Overview() {
  const { days, totals, onHold, users, outstanding } = useLoaderData<typeof loader>();
  // Thirty rows of zeros hide the few days that matter: the table lists only days where something moved.
  const active = days.filter((d) => d.sold !== 0 || d.spent !== 0 || d.given !== 0 || d.clawedBack !== 0 || d.adjusted !== 0 || Object.values(d.revenue).some((v) => v !== 0));
  const quiet = days.length - active.length;
  return (
    <div className="space-y-6">
      <h1 className="text-2xl font-bold">Overview</h1>
      <dl className="grid gap-4 sm:grid-cols-2 lg:grid-cols-3">
        <Figure label="Credits sold, last 30 days" value={formatCredits(totals.sold)} testId="overview-sold" />
        <Figure label="Credits spent, last 30 days" value={formatCredits(totals.spent)} hint="Posted usage" testId="overview-spent" />
        <Figure label="Credits on hold now" value={formatCredits(onHold.credits)} hint={`${onHold.holds} running generations`} testId="overview-on-hold" />
        <Figure label="Revenue, last 30 days" value={money(totals.revenue)} hint="As charged at checkout, before refunds" />
        <Figure label="Spendable balances" value={formatCredits(outstanding)} hint="Every user's balance added up" />
        <Figure label="Users" value={users.toLocaleString("en-US")} />
      </dl>
      <CreditsChart
        id="overview-chart"
        title="Credits sold and spent per day, last 30 days (UTC)"
        days={days.map((d) => d.day)}
        series={[
          { key: "sold", label: "Sold", color: "indigo-700", values: days.map((d) => d.sold) },
          { key: "spent", label: "Spent", color: "red-700", values: days.map((d) => d.spent) },
        ]}
      />
      <ScrollTable labelledBy="overview-caption">
        <table className={tableClass} data-testid="overview-days">
          <caption id="overview-caption" className={captionClass}>
            Days with activity, newest first (UTC){quiet > 0 ? `; the other ${quiet} of the last ${days.length} days had none` : ""}. Given: bonuses; taken back: after
            refunds and disputes.
          </caption>
          <thead className={theadClass}>
            <tr>
              {["Day", "Sold", "Spent", "Given", "Taken back", "Adjusted", "Revenue"].map((h, i) => (
                <th key={h} scope="col" className={`${th} ${i > 0 ? "text-right" : ""}`}>
                  {h}
                </th>
              ))}
            </tr>
          </thead>
          <tbody className={tbodyClass}>
            {active.length === 0 ? (
              <tr>
                <td colSpan={7} className={`${td} text-slate-700`} data-testid="overview-no-activity">
                  No activity in the last {days.length} days.
                </td>
              </tr>
            ) : null}
            {[...active].reverse().map((d) => (
              <tr key={d.day} className={trClass}>
                <th scope="row" className={`${td} whitespace-nowrap text-left font-semibold tabular-nums sm:font-normal`}>
                  {d.day}
                </th>
                <Cell label="Sold" className="text-right tabular-nums">{formatCredits(d.sold)}</Cell>
                <Cell label="Spent" className="text-right tabular-nums">{formatCredits(d.spent)}</Cell>
                <Cell label="Given" className="text-right tabular-nums">{formatCredits(d.given)}</Cell>
                <Cell label="Taken back" className="text-right tabular-nums">{formatCredits(d.clawedBack)}</Cell>
                <Cell label="Adjusted" className="text-right tabular-nums">{formatCredits(d.adjusted, true)}</Cell>
                <Cell label="Revenue" className="text-right tabular-nums">{money(d.revenue)}</Cell>
              </tr>
            ))}
          </tbody>
        </table>
      </ScrollTable>
    </div>
  );
}
