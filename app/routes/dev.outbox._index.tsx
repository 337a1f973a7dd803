import type { LoaderFunctionArgs, MetaFunction } from "@remix-run/node";
import { json } from "@remix-run/node";
import { Link, useLoaderData } from "@remix-run/react";
import { captionClass, Cell, formatUtc, ScrollTable, tableClass, tbodyClass, td, th, theadClass, trClass } from "~/components/history-table";
import { requireOutboxAccess } from "~/services/mail/outbox-access.server";
import { listOutbox } from "~/services/mail/outbox.server";

export const meta: MetaFunction = () => [{ title: "Outbox · Credits Studio" }];

export async function loader({ request }: LoaderFunctionArgs) {
  const dir = await requireOutboxAccess(request);
  return json({ messages: await listOutbox(dir) }, { headers: { "Cache-Control": "private, no-store" } });
}

export default function Outbox() {
  const { messages } = useLoaderData<typeof loader>();
  return (
    <div className="space-y-4">
      <h1 className="text-2xl font-bold">Outbox</h1>
      <p className="text-slate-800">
        No SMTP server is configured, so every message the app sends is written here instead (one .eml file per message in
        the outbox folder of DATA_DIR). Open one to follow its links.
      </p>
      <ScrollTable labelledBy="outbox-caption">
        <table className={tableClass} data-testid="outbox">
          <caption id="outbox-caption" className={captionClass}>
            Messages, newest first (times in UTC).
          </caption>
          <thead className={theadClass}>
            <tr>
              <th scope="col" className={th}>
                When (UTC)
              </th>
              <th scope="col" className={th}>
                To
              </th>
              <th scope="col" className={th}>
                Subject
              </th>
            </tr>
          </thead>
          <tbody className={tbodyClass}>
            {messages.length === 0 ? (
              <tr className={trClass}>
                <td className={`${td} text-slate-700`} colSpan={3}>
                  No mail yet.
                </td>
              </tr>
            ) : (
              messages.map((m) => (
                <tr key={m.file} data-testid="outbox-row" className={trClass}>
                  <Cell label="When (UTC)" className="whitespace-nowrap tabular-nums">{formatUtc(m.date)}</Cell>
                  <Cell label="To" className="break-all">{m.to}</Cell>
                  <Cell label="Subject">
                    <Link to={`/dev/outbox/${m.file}`} className="text-indigo-700 underline">
                      {m.subject}
                    </Link>
                  </Cell>
                </tr>
              ))
            )}
          </tbody>
        </table>
      </ScrollTable>
    </div>
  );
}
