import { Form } from "@remix-run/react";
import { describeUserAgent } from "~/utils/user-agent";

export type SessionRow = { id: string; userAgent: string | null; ip: string | null; lastSeenAt: number | null; createdAt: number; current: boolean };

function when(ms: number | null): string {
  if (ms === null) return "—";
  return new Date(ms).toISOString().replace("T", " ").slice(0, 16) + " UTC";
}

/** The account's sessions, and the one button that ends all but this one. */
export function SessionList({ sessions }: { sessions: SessionRow[] }) {
  const others = sessions.filter((s) => !s.current).length;
  return (
    <div className="space-y-4">
      <table className="w-full text-left text-sm" data-testid="session-list">
        <caption className="sr-only">Signed-in sessions</caption>
        <thead>
          <tr className="border-b border-slate-200">
            <th scope="col" className="py-2 pr-3">Browser</th>
            <th scope="col" className="py-2 pr-3">IP address</th>
            <th scope="col" className="py-2">Last seen</th>
          </tr>
        </thead>
        <tbody>
          {sessions.map((s) => (
            <tr key={s.id} className="border-b border-slate-100">
              <td className="py-2 pr-3">
                {describeUserAgent(s.userAgent)}
                {s.current ? <span className="ml-2 rounded bg-indigo-100 px-2 py-0.5 text-xs font-semibold text-indigo-900">This session</span> : null}
              </td>
              <td className="py-2 pr-3">{s.ip ?? "—"}</td>
              <td className="py-2">{when(s.lastSeenAt ?? s.createdAt)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <Form method="post" action="/settings/account">
        <input type="hidden" name="intent" value="sign-out-others" />
        <button type="submit" className="btn-secondary" disabled={others === 0}>
          Sign out everywhere else
        </button>
      </Form>
    </div>
  );
}
