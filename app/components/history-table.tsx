import { Link } from "@remix-run/react";
import type { ReactNode } from "react";
import type { DisplayStatus, HistoryRow } from "~/services/billing-dashboard.server";

// The ledger as a table: the customer's history on /settings/billing and a user's ledger in the
// admin console. Dates are rendered in UTC with a fixed format so server and browser agree.

export function formatUtc(ms: number | null | undefined, withTime = true): string {
  if (ms === null || ms === undefined) return "—";
  const iso = new Date(ms).toISOString();
  return withTime ? `${iso.slice(0, 10)} ${iso.slice(11, 16)}` : iso.slice(0, 10);
}

export function formatCredits(n: number, signed = false): string {
  const abs = Math.abs(n).toLocaleString("en-US");
  if (!signed) return n < 0 ? `−${abs}` : abs;
  return n > 0 ? `+${abs}` : n < 0 ? `−${abs}` : "0";
}

export const TYPE_LABELS: Record<HistoryRow["type"], string> = {
  purchase: "Purchase",
  topup: "Top-up",
  usage: "Usage",
  bonus: "Bonus",
  refund: "Refund",
  adjustment: "Adjustment",
  expire: "Credits expired",
  plan: "Plan credits",
  redeem: "Redeemed code",
};

const STATUS: Record<DisplayStatus, { label: string; className: string; hint: string }> = {
  pending: { label: "Pending", className: "bg-amber-100 text-amber-950", hint: "On hold for a running generation" },
  posted: { label: "Posted", className: "bg-emerald-100 text-emerald-950", hint: "Final" },
  refunded: { label: "Refunded", className: "bg-slate-200 text-slate-900", hint: "The credits or the payment were given back" },
  partly_refunded: { label: "Partly refunded", className: "bg-slate-200 text-slate-900", hint: "Part of the payment was refunded" },
};

export function StatusBadge({ status }: { status: DisplayStatus }) {
  const s = STATUS[status];
  return (
    <span className={`inline-block whitespace-nowrap rounded-full px-2 py-0.5 text-xs font-semibold ${s.className}`} title={s.hint}>
      {s.label}
    </span>
  );
}

/** A table that scrolls sideways on a narrow screen; keyboard users can scroll it too (focusable). */
export function ScrollTable({ labelledBy, children }: { labelledBy: string; children: ReactNode }) {
  return (
    <div
      className="overflow-x-auto rounded-lg bg-white shadow-sm ring-1 ring-slate-200 focus:outline-none focus-visible:ring-2 focus-visible:ring-indigo-600"
      role="region"
      aria-labelledby={labelledBy}
      tabIndex={0}
    >
      {children}
    </div>
  );
}

// Narrow screens (below `sm`): each row becomes a card of "label: value" lines, because seven
// columns do not fit 375 px. The table stays a table for assistive technology (the headers are
// still there, only visually hidden) and from `sm` up it is an ordinary table.
export const tableClass = "block w-full sm:table sm:min-w-full sm:divide-y sm:divide-slate-200";
export const captionClass = "block px-3 py-2 text-left text-sm text-slate-700 sm:table-caption";
export const theadClass = "sr-only bg-slate-50 sm:not-sr-only sm:table-header-group";
export const tbodyClass = "block divide-y divide-slate-200 sm:table-row-group sm:divide-slate-100";
export const trClass = "block py-2 sm:table-row sm:py-0";
export const th = "whitespace-nowrap px-3 py-2 text-left text-xs font-semibold uppercase tracking-wide text-slate-700";
export const td = "flex justify-between gap-4 px-3 py-0.5 text-sm sm:table-cell sm:py-2 sm:align-top";

/** A body cell; below `sm` it shows its column's name first (hidden from assistive technology,
 * which has the real header). Below `sm` the value sits right, across from its label; from `sm`
 * up it takes the cell's own alignment, so a column's values line up with its header (a block
 * line inside, like a prompt under a description, would otherwise inherit the right alignment). */
export function Cell({ label, className = "", children, colSpan }: { label?: string; className?: string; children?: ReactNode; colSpan?: number }) {
  return (
    <td className={`${td} ${className}`} colSpan={colSpan}>
      {label ? (
        <span aria-hidden="true" className="shrink-0 font-medium text-slate-700 sm:hidden">
          {label}
        </span>
      ) : null}
      <span className="min-w-0 text-right sm:[text-align:inherit]">{children}</span>
    </td>
  );
}

type Row = HistoryRow;

export function HistoryTable({
  id,
  caption,
  rows,
  admin = false,
  receipts = false,
  refundHref,
  empty = "No transactions yet.",
}: {
  id: string;
  caption: ReactNode;
  rows: Row[];
  /** Show who made a manual change and why. */
  admin?: boolean;
  /** Link payments to the app's receipt page and to Stripe's (in a new tab). */
  receipts?: boolean;
  refundHref?: (row: Row) => string | null;
  empty?: string;
}) {
  const captionId = `${id}-caption`;
  return (
    <ScrollTable labelledBy={captionId}>
      <table className={tableClass} id={id} data-testid={id}>
        <caption id={captionId} className={captionClass}>
          {caption}
        </caption>
        <thead className={theadClass}>
          <tr>
            <th scope="col" className={th}>
              Date (UTC)
            </th>
            <th scope="col" className={th}>
              Type
            </th>
            <th scope="col" className={th}>
              Description
            </th>
            <th scope="col" className={`${th} text-right`}>
              Amount
            </th>
            <th scope="col" className={`${th} text-right`}>
              Balance after
            </th>
            <th scope="col" className={th}>
              Status
            </th>
            {admin ? (
              <th scope="col" className={th}>
                By / reason
              </th>
            ) : null}
            {receipts || refundHref ? (
              <th scope="col" className={th}>
                <span className="sr-only">Actions</span>
              </th>
            ) : null}
          </tr>
        </thead>
        <tbody className={tbodyClass}>
          {rows.length === 0 ? (
            <tr className={trClass}>
              <td className={`${td} text-slate-700`} colSpan={8}>
                {empty}
              </td>
            </tr>
          ) : (
            rows.map((row) => {
              const refund = refundHref?.(row) ?? null;
              return (
                <tr key={row.id} data-testid="history-row" className={trClass}>
                  <Cell label="Date (UTC)" className="whitespace-nowrap font-semibold tabular-nums sm:font-normal">{formatUtc(row.createdAt)}</Cell>
                  <Cell label="Type" className="whitespace-nowrap">{TYPE_LABELS[row.type]}</Cell>
                  <Cell label="Description">
                    {row.description}
                    {row.generation ? (
                      <span className="block text-xs text-slate-700" data-testid="usage-prompt">
                        “{row.generation.prompt}”
                        {/* The file is its owner's only: the customer's own history links it, the admin's does not. */}
                        {receipts && row.generation.resultId ? (
                          <>
                            {" "}
                            <a className="text-indigo-700 underline" href={`/generations/${row.generation.resultId}/file`} target="_blank" rel="noopener noreferrer">
                              View result<span className="sr-only"> of the generation of {formatUtc(row.createdAt)} (opens in a new tab)</span>
                            </a>
                          </>
                        ) : null}
                      </span>
                    ) : null}
                    {row.apiKeyName !== null ? (
                      <span className="block text-xs text-slate-700" data-testid="via-key">
                        {`via key ${row.apiKeyName}`}
                      </span>
                    ) : null}
                    {row.expiresAt !== null ? (
                      <span className="mt-1 block text-xs text-slate-700" data-testid="grant-expiry">
                        {row.expired ? "expired" : `expires ${formatUtc(row.expiresAt, false)}`}
                      </span>
                    ) : null}
                  </Cell>
                  <Cell
                    label="Amount"
                    className={`whitespace-nowrap text-right font-semibold tabular-nums ${
                      row.displayStatus === "refunded" && row.type === "usage" ? "text-slate-600 line-through" : row.amount < 0 ? "text-red-800" : "text-emerald-800"
                    }`}
                  >
                    {formatCredits(row.amount, true)}
                  </Cell>
                  <Cell label="Balance after" className="whitespace-nowrap text-right tabular-nums">{formatCredits(row.balanceAfter)}</Cell>
                  <Cell label="Status">
                    <StatusBadge status={row.displayStatus} />
                    {row.refundedCredits > 0 && row.displayStatus === "partly_refunded" ? (
                      <span className="mt-1 block text-xs text-slate-700">{formatCredits(row.refundedCredits)} credits taken back</span>
                    ) : null}
                  </Cell>
                  {admin ? (
                    <Cell label="By / reason" className="text-slate-800">
                      {row.adminEmail ? (
                        <>
                          <span className="block whitespace-nowrap">{row.adminEmail}</span>
                          <span className="block text-slate-700">{row.reason}</span>
                        </>
                      ) : (
                        "—"
                      )}
                    </Cell>
                  ) : null}
                  {receipts || refundHref ? (
                    <Cell className="whitespace-nowrap">
                      {receipts && row.hasReceipt ? (
                        <span className="flex flex-wrap gap-x-3">
                          <Link className="text-indigo-700 underline" to={`/settings/billing/payments/${row.id}`}>
                            Receipt<span className="sr-only"> for the payment of {formatUtc(row.createdAt)}</span>
                          </Link>
                          {/* Redirects to Stripe's own site: a new tab, so the app is still there to come back to. */}
                          <a className="text-indigo-700 underline" href={`/settings/billing/receipt/${row.id}`} target="_blank" rel="noopener noreferrer">
                            Stripe<span className="sr-only"> card receipt for the payment of {formatUtc(row.createdAt)} (opens in a new tab)</span>
                          </a>
                        </span>
                      ) : null}
                      {refund ? (
                        <Link className="text-indigo-700 underline" to={refund} preventScrollReset>
                          Refund…<span className="sr-only"> purchase #{row.id}</span>
                        </Link>
                      ) : null}
                    </Cell>
                  ) : null}
                </tr>
              );
            })
          )}
        </tbody>
      </table>
    </ScrollTable>
  );
}

/** Keyset page links. Each is a plain GET link, so paging works without JavaScript. */
export function Pager({
  label,
  first,
  previous,
  next,
  previousLabel = "← Newer",
  nextLabel = "Older →",
  firstLabel = "Newest",
}: {
  label: string;
  first?: string | null;
  previous?: string | null;
  next?: string | null;
  previousLabel?: string;
  nextLabel?: string;
  firstLabel?: string;
}) {
  if (!first && !previous && !next) return null;
  const link = "btn-secondary";
  return (
    <nav aria-label={label} className="mt-3 flex flex-wrap items-center gap-2">
      {first ? (
        <Link className={link} to={first} preventScrollReset>
          {firstLabel}
        </Link>
      ) : null}
      {previous ? (
        <Link className={link} to={previous} preventScrollReset rel="prev">
          {previousLabel}
        </Link>
      ) : null}
      {next ? (
        <Link className={link} to={next} preventScrollReset rel="next">
          {nextLabel}
        </Link>
      ) : null}
    </nav>
  );
}

/** The query string for a page link: keeps the other parameters, replaces the cursor ones. */
export function withParams(search: string, changes: Record<string, string | number | null | undefined>): string {
  const params = new URLSearchParams(search);
  for (const [key, value] of Object.entries(changes)) {
    if (value === null || value === undefined || value === "") params.delete(key);
    else params.set(key, String(value));
  }
  const query = params.toString();
  return query ? `?${query}` : "?";
}
