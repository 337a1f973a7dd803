import { Link } from "@remix-run/react";
import type { AdminUserRow } from "~/services/admin/user-list.server";
import type { SortDirection, UserSort } from "~/utils/admin-schemas";
import { captionClass, Cell, formatCredits, formatUtc, ScrollTable, tableClass, tbodyClass, td, th, theadClass, trClass } from "./history-table";

// The admin console's user list. Sortable columns are links (they work without JavaScript), and
// each says how it sorts now (aria-sort) and what a click does.

const SORTABLE: Record<UserSort, string> = { email: "Email", credits: "Balance", created: "Signed up" };

function SortHeader({
  sort,
  column,
  dir,
  href,
  className = "",
}: {
  sort: UserSort;
  column: UserSort;
  dir: SortDirection;
  href: (column: UserSort, dir: SortDirection) => string;
  className?: string;
}) {
  const active = sort === column;
  const nextDir: SortDirection = active ? (dir === "asc" ? "desc" : "asc") : column === "email" ? "asc" : "desc";
  return (
    <th scope="col" className={`${th} ${className}`} aria-sort={active ? (dir === "asc" ? "ascending" : "descending") : "none"}>
      <Link to={href(column, nextDir)} className="inline-flex items-center gap-1 text-indigo-800 underline decoration-dotted underline-offset-2">
        {SORTABLE[column]}
        <span aria-hidden="true">{active ? (dir === "asc" ? "▲" : "▼") : "↕"}</span>
        <span className="sr-only">, sort {nextDir === "asc" ? "ascending" : "descending"}</span>
      </Link>
    </th>
  );
}

export function AdminUserTable({
  users,
  sort,
  dir,
  caption,
  sortHref,
}: {
  users: AdminUserRow[];
  sort: UserSort;
  dir: SortDirection;
  caption: string;
  sortHref: (column: UserSort, dir: SortDirection) => string;
}) {
  return (
    <ScrollTable labelledBy="users-caption">
      <table className={tableClass} data-testid="admin-users">
        <caption id="users-caption" className={captionClass}>
          {caption}
        </caption>
        <thead className={theadClass}>
          <tr>
            <SortHeader sort={sort} column="email" dir={dir} href={sortHref} />
            <SortHeader sort={sort} column="credits" dir={dir} href={sortHref} className="text-right" />
            <th scope="col" className={`${th} text-right`}>
              On hold
            </th>
            <th scope="col" className={`${th} text-right`}>
              Purchased
            </th>
            <SortHeader sort={sort} column="created" dir={dir} href={sortHref} />
            <th scope="col" className={th}>
              Last activity
            </th>
          </tr>
        </thead>
        <tbody className={tbodyClass}>
          {users.length === 0 ? (
            <tr className={trClass}>
              <td className={`${td} text-slate-700`} colSpan={6}>
                No user matches.
              </td>
            </tr>
          ) : (
            users.map((u) => (
              <tr key={u.id} data-testid="admin-user-row" className={trClass}>
                <Cell>
                  <Link to={`/admin/credits/${u.id}`} className="break-all font-medium text-indigo-800 underline sm:break-normal">
                    {u.email}
                  </Link>
                  {u.role === "admin" ? <span className="ml-2 rounded bg-indigo-100 px-1.5 text-xs font-semibold text-indigo-950">admin</span> : null}
                  {u.flaggedAt ? <span className="ml-2 rounded bg-red-100 px-1.5 text-xs font-semibold text-red-900">on hold</span> : null}
                </Cell>
                <Cell label="Balance" className="text-right font-semibold tabular-nums">{formatCredits(u.credits)}</Cell>
                <Cell label="On hold" className="text-right tabular-nums">{formatCredits(u.onHold)}</Cell>
                <Cell label="Purchased" className="text-right tabular-nums">{formatCredits(u.purchased)}</Cell>
                <Cell label="Signed up" className="whitespace-nowrap tabular-nums">{formatUtc(u.createdAt, false)}</Cell>
                <Cell label="Last activity (UTC)" className="whitespace-nowrap tabular-nums">{formatUtc(u.lastActivity)}</Cell>
              </tr>
            ))
          )}
        </tbody>
      </table>
    </ScrollTable>
  );
}
