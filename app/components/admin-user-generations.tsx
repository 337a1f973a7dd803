import type { AdminGenerationRow } from "~/services/admin/user-generations.server";
import { captionClass, Cell, formatCredits, formatUtc, ScrollTable, tableClass, tbodyClass, td, th, theadClass, trClass } from "./history-table";

// A user's recent generations on the admin's user page (decision 032): what they asked for, how it
// went, what it cost, and the result (an admin may open any user's file). A deleted one stays
// listed, marked deleted, without a link: its file is gone.

const STATUS_LABELS: Record<AdminGenerationRow["status"], string> = {
  queued: "Queued",
  running: "Running",
  succeeded: "Done",
  failed: "Failed (not charged)",
};

function resultLabel(g: AdminGenerationRow): string {
  return `${g.kind === "video" ? "video" : "image"} of ${formatUtc(g.createdAt)}`;
}

export function AdminUserGenerations({ rows, total }: { rows: AdminGenerationRow[]; total: number }) {
  const caption =
    total === 0
      ? "Generations of this user."
      : rows.length < total
        ? `Showing the newest ${rows.length} of ${total.toLocaleString("en-US")} generations (times in UTC).`
        : `Showing all ${total.toLocaleString("en-US")} generation${total === 1 ? "" : "s"}, newest first (times in UTC).`;
  return (
    <ScrollTable labelledBy="generations-caption">
      <table className={tableClass} data-testid="admin-generations">
        <caption id="generations-caption" className={captionClass} data-testid="admin-generations-count">
          {caption}
        </caption>
        <thead className={theadClass}>
          <tr>
            <th scope="col" className={th}>
              Created (UTC)
            </th>
            <th scope="col" className={th}>
              Kind
            </th>
            <th scope="col" className={th}>
              Prompt
            </th>
            <th scope="col" className={th}>
              Status
            </th>
            <th scope="col" className={`${th} text-right`}>
              Cost
            </th>
            <th scope="col" className={th}>
              Result
            </th>
          </tr>
        </thead>
        <tbody className={tbodyClass}>
          {rows.length === 0 ? (
            <tr className={trClass}>
              <td className={`${td} text-slate-700`} colSpan={6}>
                No generations yet.
              </td>
            </tr>
          ) : (
            rows.map((g) => (
              <tr key={g.id} data-testid="admin-generation-row" data-generation-id={g.id} className={trClass}>
                <Cell label="Created (UTC)" className="whitespace-nowrap tabular-nums">{formatUtc(g.createdAt)}</Cell>
                <Cell label="Kind">{g.kind === "video" ? "Video" : "Image"}</Cell>
                <Cell label="Prompt" className="break-words">
                  <span className="block max-w-md">{g.prompt}</span>
                </Cell>
                <Cell label="Status" className="whitespace-nowrap">
                  {g.deletedAt !== null ? (
                    <span data-testid="generation-deleted">Deleted by the user {formatUtc(g.deletedAt, false)}</span>
                  ) : (
                    STATUS_LABELS[g.status]
                  )}
                </Cell>
                <Cell label="Cost" className="whitespace-nowrap text-right tabular-nums">{`${formatCredits(g.cost)} credits`}</Cell>
                <Cell label="Result">
                  {g.hasFile ? (
                    <a
                      href={`/generations/${g.id}/file`}
                      target="_blank"
                      rel="noopener noreferrer"
                      className="inline-flex items-center gap-2 text-indigo-700 underline"
                      data-testid="generation-file-link"
                    >
                      {g.mimeType?.startsWith("image/") ? (
                        <img src={`/generations/${g.id}/file`} alt="" width={40} height={40} loading="lazy" className="h-10 w-10 rounded object-cover ring-1 ring-slate-200" />
                      ) : null}
                      <span>
                        View<span className="sr-only"> the {resultLabel(g)} (opens in a new tab)</span>
                      </span>
                    </a>
                  ) : (
                    "—"
                  )}
                </Cell>
              </tr>
            ))
          )}
        </tbody>
      </table>
    </ScrollTable>
  );
}
