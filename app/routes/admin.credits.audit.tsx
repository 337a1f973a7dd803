import type { LoaderFunctionArgs, MetaFunction } from "@remix-run/node";
import { json } from "@remix-run/node";
import { Link, useLoaderData, useLocation } from "@remix-run/react";
import { captionClass, Cell, formatUtc, Pager, ScrollTable, tableClass, tbodyClass, td, th, theadClass, trClass, withParams } from "~/components/history-table";
import { listAudit } from "~/services/admin/audit-log.server";
import { getUserSummary } from "~/services/admin/user-list.server";
import { requireAdmin } from "~/services/auth.server";
import { getRuntime } from "~/services/runtime.server";
import { AUDIT_ACTIONS, AuditQuerySchema } from "~/utils/admin-schemas";

export const meta: MetaFunction = () => [{ title: "Audit log · Admin · Credits Studio" }];

export async function loader({ request }: LoaderFunctionArgs) {
  await requireAdmin(request);
  const { db } = getRuntime();
  const query = AuditQuerySchema.parse(Object.fromEntries(new URL(request.url).searchParams));
  const target = query.user ? await getUserSummary(db, query.user) : null;
  return json(
    {
      target: target ? { id: target.id, email: target.email } : null,
      ...(await listAudit(db, { targetUserId: query.user, older: query.older })),
    },
    { headers: { "Cache-Control": "private, no-store" } },
  );
}

const ACTION_LABELS: Record<string, string> = {
  [AUDIT_ACTIONS.adjust]: "Balance change",
  [AUDIT_ACTIONS.refund]: "Refund requested",
  [AUDIT_ACTIONS.placeHold]: "Account put on hold",
  [AUDIT_ACTIONS.liftHold]: "Account hold lifted",
  [AUDIT_ACTIONS.mailRetry]: "Mail retried",
  [AUDIT_ACTIONS.codeCreate]: "Redeem code created",
  [AUDIT_ACTIONS.codeDisable]: "Redeem code disabled",
  [AUDIT_ACTIONS.codeRedeem]: "Code redeemed",
};

export default function AuditLog() {
  const { entries, older, target } = useLoaderData<typeof loader>();
  const location = useLocation();
  const isFirstPage = !new URLSearchParams(location.search).has("older");
  return (
    <div className="space-y-4">
      <h1 className="text-2xl font-bold">Audit log{target ? ` of ${target.email}` : ""}</h1>
      <p className="text-slate-800">
        Every change an administrator made, and every redeem code used: who, when, why.{" "}
        {target ? (
          <Link to="/admin/credits/audit" className="text-indigo-700 underline">
            Show every user
          </Link>
        ) : null}
      </p>
      <ScrollTable labelledBy="audit-caption">
        <table className={tableClass} data-testid="audit-log">
          <caption id="audit-caption" className={captionClass}>
            Admin actions and code redemptions, newest first (times in UTC).
          </caption>
          <thead className={theadClass}>
            <tr>
              <th scope="col" className={th}>
                When (UTC)
              </th>
              <th scope="col" className={th}>
                By
              </th>
              <th scope="col" className={th}>
                Action
              </th>
              <th scope="col" className={th}>
                User
              </th>
              <th scope="col" className={th}>
                Reason
              </th>
              <th scope="col" className={th}>
                Details
              </th>
            </tr>
          </thead>
          <tbody className={tbodyClass}>
            {entries.length === 0 ? (
              <tr className={trClass}>
                <td className={`${td} text-slate-700`} colSpan={6}>
                  Nothing recorded yet.
                </td>
              </tr>
            ) : (
              entries.map((e) => (
                <tr key={e.id} data-testid="audit-row" className={trClass}>
                  <Cell label="When (UTC)" className="whitespace-nowrap tabular-nums">{formatUtc(e.createdAt)}</Cell>
                  <Cell label="By" className="break-all sm:whitespace-nowrap sm:break-normal">{e.actorEmail}</Cell>
                  <Cell label="Action" className="whitespace-nowrap">{ACTION_LABELS[e.action] ?? e.action}</Cell>
                  <Cell label="User" className="break-all sm:whitespace-nowrap sm:break-normal">
                    {e.targetUserId ? (
                      <Link to={`/admin/credits/${e.targetUserId}`} className="text-indigo-700 underline">
                        {e.targetEmail ?? `user #${e.targetUserId}`}
                      </Link>
                    ) : (
                      "—"
                    )}
                  </Cell>
                  <Cell label="Reason">{e.reason ?? "—"}</Cell>
                  <Cell label="Details" className="text-slate-800">{e.summary}</Cell>
                </tr>
              ))
            )}
          </tbody>
        </table>
      </ScrollTable>
      <Pager
        label="Audit log pages"
        first={isFirstPage ? null : withParams(location.search, { older: null })}
        next={older ? withParams(location.search, { older }) : null}
        firstLabel="Newest"
        nextLabel="Older →"
      />
    </div>
  );
}
