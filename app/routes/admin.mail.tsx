import type { ActionFunctionArgs, LoaderFunctionArgs, MetaFunction } from "@remix-run/node";
import { json } from "@remix-run/node";
import { Form, useActionData, useLoaderData } from "@remix-run/react";
import { AdminNav } from "~/components/admin-nav";
import { captionClass, Cell, formatUtc, ScrollTable, tableClass, tbodyClass, td, th, theadClass, trClass } from "~/components/history-table";
import { requireAdmin } from "~/services/auth.server";
import { listMailProblems, retryFailedMail, type MailProblem } from "~/services/mail/mail-admin.server";
import { getRuntime } from "~/services/runtime.server";
import { redirectWithToast } from "~/services/toast.server";
import { MailRetrySchema } from "~/utils/admin-schemas";

export const meta: MetaFunction = () => [{ title: "Mail delivery · Admin · Credits Studio" }];

export async function loader({ request }: LoaderFunctionArgs) {
  await requireAdmin(request);
  const { db, config } = getRuntime();
  return json(
    { ...(await listMailProblems(db)), transport: config.mail.transport },
    { headers: { "Cache-Control": "private, no-store" } },
  );
}

export async function action({ request }: ActionFunctionArgs) {
  const admin = await requireAdmin(request);
  const parsed = MailRetrySchema.safeParse(Object.fromEntries(await request.formData()));
  if (!parsed.success) return json({ error: "Choose a message to retry." }, { status: 400 });
  const result = await retryFailedMail(getRuntime().db, { adminId: admin.id, mailId: parsed.data.mailId });
  if (!result.ok) return json({ error: result.message }, { status: result.reason === "not_found" ? 404 : 409 });
  return redirectWithToast(request, "/admin/mail", {
    kind: "success",
    title: "Queued again",
    description: `Message #${result.id} to ${result.to} is sent within a few seconds.`,
  });
}

function MailTable({ id, caption, rows, retry }: { id: string; caption: string; rows: MailProblem[]; retry: boolean }) {
  return (
    <ScrollTable labelledBy={`${id}-caption`}>
      <table className={tableClass} data-testid={id}>
        <caption id={`${id}-caption`} className={captionClass}>
          {caption}
        </caption>
        <thead className={theadClass}>
          <tr>
            {["#", "To", "Kind", "Subject", "Attempts", "Last error", "Queued (UTC)", retry ? "Action" : "Next attempt (UTC)"].map((h) => (
              <th key={h} scope="col" className={`${th} ${h === "#" || h === "Attempts" ? "text-right" : ""}`}>
                {h}
              </th>
            ))}
          </tr>
        </thead>
        <tbody className={tbodyClass}>
          {rows.length === 0 ? (
            <tr className={trClass}>
              <td className={`${td} text-slate-700`} colSpan={8}>
                None.
              </td>
            </tr>
          ) : (
            rows.map((m) => (
              <tr key={m.id} data-testid="mail-row" className={trClass}>
                <Cell label="#" className="text-right tabular-nums">{m.id}</Cell>
                <Cell label="To" className="break-all">{m.to}</Cell>
                <Cell label="Kind" className="whitespace-nowrap">{m.kind}</Cell>
                <Cell label="Subject">{m.subject}</Cell>
                <Cell label="Attempts" className="text-right tabular-nums">{m.attempts}</Cell>
                <Cell label="Last error" className="break-all text-slate-800">{m.lastError ?? "—"}</Cell>
                <Cell label="Queued (UTC)" className="whitespace-nowrap tabular-nums">{formatUtc(m.createdAt)}</Cell>
                {retry ? (
                  <Cell label="Action">
                    <Form method="post">
                      <input type="hidden" name="intent" value="retry" />
                      <input type="hidden" name="mailId" value={m.id} />
                      <button
                        type="submit"
                        aria-label={`Retry message #${m.id} to ${m.to} now`}
                        className="rounded-md bg-indigo-700 px-3 py-1 text-sm font-semibold text-white hover:bg-indigo-800 focus:outline-none focus-visible:ring-2 focus-visible:ring-indigo-600 focus-visible:ring-offset-2"
                      >
                        Retry now
                      </button>
                    </Form>
                  </Cell>
                ) : (
                  <Cell label="Next attempt (UTC)" className="whitespace-nowrap tabular-nums">{formatUtc(m.nextAttemptAt)}</Cell>
                )}
              </tr>
            ))
          )}
        </tbody>
      </table>
    </ScrollTable>
  );
}

export default function AdminMail() {
  const { failed, delayed, counts, transport } = useLoaderData<typeof loader>();
  const actionData = useActionData<typeof action>();
  return (
    <div className="space-y-6">
      <AdminNav />
      <div className="space-y-2">
        <h1 className="text-2xl font-bold">Mail delivery</h1>
        <p className="text-slate-800">
          {counts.sent.toLocaleString("en-US")} sent, {counts.pending.toLocaleString("en-US")} waiting, {counts.failed.toLocaleString("en-US")} failed.{" "}
          {transport === "outbox" ? "Mail goes to the local outbox (no SMTP_URL)." : "Mail goes out through SMTP_URL."}
        </p>
        {actionData?.error ? (
          <p role="alert" className="rounded-md bg-red-50 p-3 text-sm text-red-900 ring-1 ring-red-300">
            {actionData.error}
          </p>
        ) : null}
      </div>
      <section aria-labelledby="failed-heading" className="space-y-3">
        <h2 id="failed-heading" className="text-lg font-semibold">
          Failed
        </h2>
        <p className="text-sm text-slate-800">Every attempt failed. “Retry now” queues the message again with a fresh set of attempts (recorded in the audit log).</p>
        <MailTable id="mail-failed" caption="Messages that were given up on, newest first." rows={failed} retry />
      </section>
      <section aria-labelledby="delayed-heading" className="space-y-3">
        <h2 id="delayed-heading" className="text-lg font-semibold">
          Delayed
        </h2>
        <p className="text-sm text-slate-800">Still waiting after an error or for more than ten minutes. The sender retries these by itself.</p>
        <MailTable id="mail-delayed" caption="Messages still pending, newest first." rows={delayed} retry={false} />
      </section>
    </div>
  );
}
