import { Link } from "@remix-run/react";

// What a person sees when a page cannot be shown: plain words and a way on, never the router's or
// the server's own text (an error message can name a table, a file or a secret's variable).

function Page({ title, children }: { title: string; children: React.ReactNode }) {
  return (
    <div className="space-y-3">
      <h1 className="text-2xl font-bold">{title}</h1>
      {children}
      <p>
        <Link to="/" className="text-indigo-700 underline">
          Go to the home page
        </Link>
      </p>
    </div>
  );
}

export function NotFoundPage() {
  return (
    <Page title="We couldn't find that page">
      <p className="text-slate-700">The address may be mistyped, or the page may have moved. Check the address, or start again from the home page.</p>
    </Page>
  );
}

/**
 * A refused request (4xx other than 404). `message` is the text our own code threw for people
 * (e.g. "Forbidden: administrators only"); anything else falls back to a general line.
 */
export function RefusedPage({ status, message }: { status: number; message: string | null }) {
  const title = status === 401 || status === 403 ? "You can't open this page" : "This request could not be handled";
  return (
    <Page title={title}>
      <p className="text-slate-700">{message ?? "Check the address or go back and try again."}</p>
    </Page>
  );
}

/** A failure on our side. `detail` is only ever passed in development. */
export function ServerErrorPage({ detail }: { detail?: string }) {
  return (
    <Page title="Something went wrong on our side">
      <p className="text-slate-700">
        The page could not be shown. Nothing you did caused this; try again in a moment. If it keeps happening, tell us what you
        were doing and when.
      </p>
      {detail ? <pre className="overflow-x-auto rounded-md bg-slate-100 p-3 text-sm text-slate-800">{detail}</pre> : null}
    </Page>
  );
}
