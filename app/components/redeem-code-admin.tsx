import { getFormProps, getInputProps, useForm, type FieldMetadata, type SubmissionResult } from "@conform-to/react";
import { getZodConstraint, parseWithZod } from "@conform-to/zod";
import { Form, Link, useNavigation } from "@remix-run/react";
import { FormErrors, Problem } from "./forms";
import { captionClass, Cell, formatUtc, ScrollTable, tableClass, tbodyClass, th, theadClass, trClass } from "./history-table";
import type { RedeemCodeView } from "~/services/money/redeem-codes.server";
import {
  createRedeemCodeSchema,
  formatCode,
  formatLifetime,
  LARGE_CODE_TOTAL,
  MAX_CODE_CREDITS,
  MAX_REDEMPTIONS,
  typedCodeTotalIsLarge,
} from "~/utils/redeem-code-schemas";

// /admin/credits/codes: the create form, the list, and the confirm step of disabling a code.
// Real POST forms (they work without JavaScript); with JavaScript, Conform checks the create form
// in the browser with the server's schema. The hidden token makes a double submit one code.

function TextField({ meta, label, hint, placeholder }: { meta: FieldMetadata<unknown>; label: string; hint: string; placeholder?: string }) {
  const hintId = `${meta.id}-hint`;
  return (
    <div>
      <label htmlFor={meta.id} className="label">
        {label}
      </label>
      <input
        {...getInputProps(meta, { type: "text", ariaDescribedBy: hintId })}
        key={meta.key}
        autoComplete="off"
        placeholder={placeholder}
        className="input mt-1 sm:w-64"
      />
      <p id={hintId} className="mt-1 text-sm text-slate-700">
        {hint}
      </p>
      <Problem meta={meta} />
    </div>
  );
}

export function CreateRedeemCodeForm({ token, lastResult }: { token: string; lastResult?: SubmissionResult<string[]> }) {
  const navigation = useNavigation();
  const submitting = navigation.state === "submitting" && navigation.formData?.get("intent") === "create";
  const schema = createRedeemCodeSchema();
  const [form, fields] = useForm({
    id: "create-code",
    lastResult,
    constraint: getZodConstraint(schema),
    onValidate: ({ formData }) => parseWithZod(formData, { schema }),
    shouldValidate: "onSubmit",
    shouldRevalidate: "onInput",
  });
  const confirmHint = `${fields.confirmLarge.id}-hint`;
  // As on the adjust form: the box only when the total typed is large (the server decides).
  const large = typedCodeTotalIsLarge(fields.credits.value, fields.maxRedemptions.value);
  return (
    <Form method="post" {...getFormProps(form)} className="card space-y-4" aria-labelledby="create-code-heading">
      <h2 id="create-code-heading" className="text-lg font-semibold">
        Create a code
      </h2>
      <FormErrors errors={form.errors} id={form.errorId} />
      <input type="hidden" name="intent" value="create" />
      <input type="hidden" name="token" value={token} />
      <div className="grid gap-4 sm:grid-cols-2">
        <TextField meta={fields.code} label="Code (optional)" placeholder="generated" hint="Letters and digits, 6 to 32; empty: a code like ABCD-EFGH-JKMN is generated." />
        <TextField meta={fields.credits} label="Credits per redemption" hint={`A whole number from 1 to ${MAX_CODE_CREDITS.toLocaleString("en-US")}.`} />
        <TextField meta={fields.maxRedemptions} label="Times it may be used" hint={`By different accounts (each once), 1 to ${MAX_REDEMPTIONS.toLocaleString("en-US")}.`} />
        <TextField meta={fields.creditsExpireAfter} label="Credits expire after (optional)" placeholder="e.g. 30d" hint="Counted from each redemption: like 30d or 12h (at least 1h). Empty: never." />
        <TextField meta={fields.redeemableUntil} label="Redeemable until (UTC, optional)" placeholder="e.g. 2027-01-31" hint="Like 2027-01-31 (to the end of that day) or 2027-01-31 18:00, in UTC. Empty: no end." />
      </div>
      {large ? (
        <div className="rounded-md bg-amber-50 p-3 ring-1 ring-amber-300" data-testid="confirm-large-total">
          <div className="flex items-start gap-2">
            <input
              {...getInputProps(fields.confirmLarge, { type: "checkbox", ariaDescribedBy: confirmHint })}
              key={fields.confirmLarge.key}
              className="mt-1 h-4 w-4 rounded border-slate-400 text-indigo-700 focus-visible:ring-2 focus-visible:ring-indigo-600"
            />
            <label htmlFor={fields.confirmLarge.id} className="text-sm font-medium text-slate-900">
              I confirm this large total
            </label>
          </div>
          <p id={confirmHint} className="mt-1 text-sm text-slate-800">
            Needed when credits × times may be used is more than {LARGE_CODE_TOTAL.toLocaleString("en-US")}.
          </p>
          <Problem meta={fields.confirmLarge} />
        </div>
      ) : null}
      <button type="submit" className="btn-primary" disabled={submitting}>
        {submitting ? "Creating…" : "Create code"}
      </button>
    </Form>
  );
}

const STATUS_LABELS: Record<RedeemCodeView["status"], string> = { active: "Active", used_up: "Used up", expired: "Expired", disabled: "Disabled" };

type CodeRow = Omit<RedeemCodeView, "createdByEmail"> & { createdByEmail: string };

export function RedeemCodeTable({ codes }: { codes: CodeRow[] }) {
  return (
    <ScrollTable labelledBy="codes-caption">
      <table className={tableClass} data-testid="redeem-codes">
        <caption id="codes-caption" className={captionClass}>
          Codes, newest first (times in UTC).
        </caption>
        <thead className={theadClass}>
          <tr>
            {["Code", "Credits", "Credits expire after", "Used / max", "Redeemable until", "Status", "Created", "Action"].map((h) => (
              <th key={h} scope="col" className={`${th} ${h === "Credits" || h === "Used / max" ? "text-right" : ""}`}>
                {h}
              </th>
            ))}
          </tr>
        </thead>
        <tbody className={tbodyClass}>
          {codes.length === 0 ? (
            <tr className={trClass}>
              <Cell colSpan={8}>No codes yet.</Cell>
            </tr>
          ) : (
            codes.map((c) => (
              <tr key={c.id} data-testid="redeem-code-row" data-code={c.code} className={trClass}>
                <Cell label="Code" className="whitespace-nowrap font-mono">{formatCode(c.code)}</Cell>
                <Cell label="Credits" className="text-right tabular-nums">{c.credits.toLocaleString("en-US")}</Cell>
                <Cell label="Credits expire after">{formatLifetime(c.creditsExpireAfterMs)}</Cell>
                <Cell label="Used / max" className="whitespace-nowrap text-right tabular-nums">{`${c.redemptionCount.toLocaleString("en-US")} / ${c.maxRedemptions.toLocaleString("en-US")}`}</Cell>
                <Cell label="Redeemable until" className="whitespace-nowrap tabular-nums">{c.redeemableUntil === null ? "no end" : formatUtc(c.redeemableUntil)}</Cell>
                <Cell label="Status">{STATUS_LABELS[c.status]}</Cell>
                <Cell label="Created" className="whitespace-nowrap">{`${formatUtc(c.createdAt, false)} by ${c.createdByEmail}`}</Cell>
                <Cell label="Action">
                  {c.disabledAt === null ? (
                    <Link to={`?disable=${c.id}#disable`} className="text-indigo-700 underline" preventScrollReset>
                      Disable<span className="sr-only"> {formatCode(c.code)}</span>
                    </Link>
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

/** The confirm step: what disabling does, one button, and a way back. */
export function DisableCodeConfirm({ code, errors }: { code: CodeRow; errors?: string[] }) {
  return (
    <section id="disable" aria-labelledby="disable-heading" className="card space-y-3 ring-2 ring-red-300">
      <h2 id="disable-heading" className="text-lg font-semibold">
        Disable the code {formatCode(code.code)}?
      </h2>
      <FormErrors errors={errors} />
      <p className="text-sm text-slate-800">
        Nobody can redeem it any more (it answers like a code that does not exist). The {code.redemptionCount.toLocaleString("en-US")} redemptions made so
        far keep their credits. This cannot be undone.
      </p>
      <Form method="post" className="flex flex-wrap gap-3">
        <input type="hidden" name="intent" value="disable" />
        <input type="hidden" name="codeId" value={code.id} />
        <button type="submit" className="btn-danger">
          Disable {formatCode(code.code)}
        </button>
        <Link to="." className="btn-secondary">
          Cancel
        </Link>
      </Form>
    </section>
  );
}
