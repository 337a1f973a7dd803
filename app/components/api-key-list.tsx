import { Form, Link } from "@remix-run/react";
import { useEffect, useState } from "react";
import type { ApiKeyView, IssuedKey } from "~/services/api-keys/api-keys.server";
import { captionClass, Cell, formatCredits, ScrollTable, tableClass, tbodyClass, th, theadClass, trClass } from "./history-table";

// The pieces of /settings/api-keys: the new key (shown once), the list, and the revoke confirmation.

const utc = (iso: string | null) => (iso ? `${iso.slice(0, 10)} ${iso.slice(11, 16)}` : "never");

/** The key just created. A read-only field, so it can be selected and copied without JavaScript;
 * with JavaScript a button copies it too. */
export function NewKey({ issued }: { issued: Pick<IssuedKey, "key" | "name"> }) {
  const [hydrated, setHydrated] = useState(false);
  const [copied, setCopied] = useState(false);
  useEffect(() => setHydrated(true), []);
  return (
    <section aria-labelledby="new-key-heading" className="card space-y-2 ring-2 ring-emerald-600" data-testid="new-key">
      <h2 id="new-key-heading" className="text-lg font-semibold">
        Key “{issued.name}” created
      </h2>
      <p id="new-key-hint" className="text-sm text-slate-800">
        Copy it now: it is shown only this once. Send it as <code>Authorization: Bearer …</code>.
      </p>
      <label htmlFor="new-key-value" className="label">
        Your new API key
      </label>
      <div className="flex flex-wrap gap-2">
        <input
          id="new-key-value"
          readOnly
          value={issued.key}
          aria-describedby="new-key-hint"
          onFocus={(e) => e.currentTarget.select()}
          className="input min-w-0 flex-1 font-mono text-sm"
          spellCheck={false}
          autoComplete="off"
        />
        {hydrated ? (
          <button
            type="button"
            className="btn-secondary"
            onClick={() => {
              void navigator.clipboard?.writeText(issued.key).then(() => setCopied(true));
            }}
          >
            {copied ? "Copied" : "Copy"}
          </button>
        ) : null}
      </div>
      <p aria-live="polite" className="text-sm text-emerald-900">
        {copied ? "The key is on your clipboard." : ""}
      </p>
    </section>
  );
}

export function KeyTable({ keys }: { keys: ApiKeyView[] }) {
  return (
    <ScrollTable labelledBy="api-keys-caption">
      <table className={tableClass} data-testid="api-keys">
        <caption id="api-keys-caption" className={captionClass}>
          Your API keys (spend counts per UTC calendar month)
        </caption>
        <thead className={theadClass}>
          <tr>
            {["Name", "Key", "Created (UTC)", "Last used (UTC)", "Spent this month", "Monthly limit"].map((h) => (
              <th key={h} scope="col" className={th}>
                {h}
              </th>
            ))}
            <th scope="col" className={th}>
              <span className="sr-only">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody className={tbodyClass}>
          {keys.length === 0 ? (
            <tr className={trClass}>
              <Cell colSpan={7}>No API keys yet.</Cell>
            </tr>
          ) : (
            keys.map((k) => (
              <tr key={k.id} className={trClass} data-testid="api-key-row">
                <Cell label="Name" className="font-semibold">{k.name}</Cell>
                <Cell label="Key" className="whitespace-nowrap font-mono">{`${k.prefix}…`}</Cell>
                <Cell label="Created (UTC)" className="whitespace-nowrap tabular-nums">{utc(k.createdAt)}</Cell>
                <Cell label="Last used (UTC)" className="whitespace-nowrap tabular-nums">{utc(k.lastUsedAt)}</Cell>
                <Cell label="Spent this month" className="tabular-nums">{formatCredits(k.spentThisMonth)}</Cell>
                <Cell label="Monthly limit" className="tabular-nums">{k.monthlyCreditLimit === null ? "none" : formatCredits(k.monthlyCreditLimit)}</Cell>
                <Cell className="whitespace-nowrap">
                  <Link to={`?revoke=${k.id}`} className="text-red-800 underline" preventScrollReset>
                    Revoke…<span className="sr-only"> the key {k.name}</span>
                  </Link>
                </Cell>
              </tr>
            ))
          )}
        </tbody>
      </table>
    </ScrollTable>
  );
}

/** The second step of revoking: a real form, so it works without JavaScript and cannot be a misclick. */
export function ConfirmRevoke({ apiKey }: { apiKey: ApiKeyView }) {
  return (
    <section aria-labelledby="revoke-heading" className="card space-y-3 ring-2 ring-red-600" data-testid="confirm-revoke">
      <h2 id="revoke-heading" className="text-lg font-semibold">
        Revoke the key “{apiKey.name}” ({apiKey.prefix}…)?
      </h2>
      <p className="text-sm text-slate-800">Every request made with it is refused from this moment. This cannot be undone.</p>
      <Form method="post" className="flex flex-wrap gap-2">
        <input type="hidden" name="intent" value="revoke" />
        <input type="hidden" name="id" value={apiKey.id} />
        <button type="submit" className="btn-danger">
          Revoke key
        </button>
        <Link to="." className="btn-secondary">
          Cancel
        </Link>
      </Form>
    </section>
  );
}
