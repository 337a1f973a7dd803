import type { LoaderFunctionArgs, MetaFunction } from "@remix-run/node";
import { json } from "@remix-run/node";
import { Link, useLoaderData } from "@remix-run/react";
import { Fragment } from "react";
import { formatUtc } from "~/components/history-table";
import { requireOutboxAccess } from "~/services/mail/outbox-access.server";
import { readOutboxMessage } from "~/services/mail/outbox.server";

export const meta: MetaFunction<typeof loader> = ({ data }) => [{ title: `${data?.message.subject ?? "Message"} · Outbox · Credits Studio` }];

export async function loader({ request, params }: LoaderFunctionArgs) {
  const dir = await requireOutboxAccess(request);
  const message = await readOutboxMessage(dir, params.file ?? "");
  if (!message) throw new Response("No such message in the outbox", { status: 404 });
  return json({ message }, { headers: { "Cache-Control": "private, no-store" } });
}

/** The text part with its http(s) addresses as links; everything else stays text (React escapes it). */
function TextWithLinks({ text }: { text: string }) {
  const parts = text.split(/(https?:\/\/[^\s<>"]+)/g);
  return (
    <>
      {parts.map((part, i) =>
        i % 2 === 1 ? (
          <a key={i} href={part} className="break-all text-indigo-700 underline">
            {part}
          </a>
        ) : (
          <Fragment key={i}>{part}</Fragment>
        ),
      )}
    </>
  );
}

export default function OutboxMessage() {
  const { message } = useLoaderData<typeof loader>();
  return (
    <div className="space-y-4">
      <p className="text-sm">
        <Link to="/dev/outbox" className="text-indigo-700 underline">
          Outbox
        </Link>{" "}
        / {message.file}
      </p>
      <h1 className="break-words text-2xl font-bold">{message.subject}</h1>
      <dl className="grid grid-cols-[auto_1fr] gap-x-4 gap-y-1 text-sm">
        <dt className="font-semibold">From</dt>
        <dd className="break-all">{message.from}</dd>
        <dt className="font-semibold">To</dt>
        <dd className="break-all">{message.to}</dd>
        <dt className="font-semibold">Date</dt>
        <dd className="tabular-nums">{formatUtc(message.date)} UTC</dd>
      </dl>
      <section aria-labelledby="text-heading" className="card space-y-2">
        <h2 id="text-heading" className="text-lg font-semibold">
          Message (plain-text part)
        </h2>
        <div className="whitespace-pre-wrap break-words text-slate-900" data-testid="outbox-text">
          <TextWithLinks text={message.text} />
        </div>
      </section>
      <section aria-labelledby="links-heading" className="space-y-2">
        <h2 id="links-heading" className="text-lg font-semibold">
          Links in the message
        </h2>
        {message.links.length ? (
          <ul className="list-disc pl-6" data-testid="outbox-links">
            {message.links.map((href) => (
              <li key={href}>
                <a href={href} className="break-all text-indigo-700 underline">
                  {href}
                </a>
              </li>
            ))}
          </ul>
        ) : (
          <p className="text-slate-800">None.</p>
        )}
      </section>
    </div>
  );
}
