import {
  getFormProps,
  getInputProps,
  getSelectProps,
  getTextareaProps,
  useForm,
  type FieldMetadata,
  type SubmissionResult,
} from "@conform-to/react";
import { getZodConstraint, parseWithZod } from "@conform-to/zod";
import { Form } from "@remix-run/react";
import { FormErrors, Problem, useSubmitting } from "./forms";
import { formatUtc } from "./history-table";
import { AdjustCreditsSchema, MAX_ADJUSTMENT, refundPurchaseSchema, typedAmountIsLarge } from "~/utils/admin-schemas";

// The two forms of an admin's user page. Real POST forms (they work without JavaScript); with
// JavaScript, Conform validates them in the browser with the schemas the server uses, and the
// submit button says what is happening. The hidden token is the idempotency key of the change.

function describedBy(meta: FieldMetadata<unknown>, hintId?: string): string | undefined {
  return [meta.errors?.length ? meta.errorId : null, hintId].filter(Boolean).join(" ") || undefined;
}

/**
 * The confirmation box is there only for a large amount: while the admin types (Conform keeps
 * `fields.amount.value` current), and without JavaScript when the server answered a large
 * unconfirmed change with the form again (the value comes back in `lastResult`). The server
 * decides; `largeThreshold` is its number, mirrored.
 */
export function AdjustCreditsForm({
  token,
  largeThreshold,
  lastResult,
}: {
  token: string;
  largeThreshold: number;
  lastResult?: SubmissionResult<string[]>;
}) {
  const submitting = useSubmitting("adjust");
  const [form, fields] = useForm({
    id: "adjust-credits",
    lastResult,
    constraint: getZodConstraint(AdjustCreditsSchema),
    onValidate: ({ formData }) => parseWithZod(formData, { schema: AdjustCreditsSchema }),
    shouldValidate: "onSubmit",
    shouldRevalidate: "onInput",
    defaultValue: { type: "bonus" },
  });
  const amountHint = `${fields.amount.id}-hint`;
  const confirmHint = `${fields.confirmLarge.id}-hint`;
  const large = typedAmountIsLarge(fields.amount.value, largeThreshold);
  return (
    <Form method="post" {...getFormProps(form)} className="card space-y-4" aria-labelledby="adjust-heading">
      <h2 id="adjust-heading" className="text-lg font-semibold">
        Add or remove credits
      </h2>
      <FormErrors errors={form.errors} id={form.errorId} />
      <input type="hidden" name="intent" value="adjust" />
      <input type="hidden" name="token" value={token} />
      <div>
        <label htmlFor={fields.amount.id} className="label">
          Amount (credits)
        </label>
        <input
          {...getInputProps(fields.amount, { type: "text", ariaDescribedBy: describedBy(fields.amount, amountHint) })}
          key={fields.amount.key}
          inputMode="text"
          autoComplete="off"
          className="input mt-1 sm:w-48"
        />
        <p id={amountHint} className="mt-1 text-sm text-slate-700">
          A whole number: positive adds, negative (e.g. -50) removes. At most {MAX_ADJUSTMENT.toLocaleString("en-US")}; a
          balance never goes below zero.
        </p>
        <Problem meta={fields.amount} />
      </div>
      <div>
        <label htmlFor={fields.type.id} className="label">
          Type
        </label>
        <select {...getSelectProps(fields.type)} key={fields.type.key} className="input mt-1">
          <option value="bonus">Bonus (adds credits: promotion, goodwill)</option>
          <option value="adjustment">Adjustment (a correction, adds or removes)</option>
        </select>
        <Problem meta={fields.type} />
      </div>
      <div>
        <label htmlFor={fields.expiresAfter.id} className="label">
          Expires after (optional, bonus only)
        </label>
        <input
          {...getInputProps(fields.expiresAfter, { type: "text", ariaDescribedBy: describedBy(fields.expiresAfter, `${fields.expiresAfter.id}-hint`) })}
          key={fields.expiresAfter.key}
          autoComplete="off"
          placeholder="e.g. 30d"
          className="input mt-1 sm:w-48"
        />
        <p id={`${fields.expiresAfter.id}-hint`} className="mt-1 text-sm text-slate-700">
          Like 30d, 12h or 90s. Empty: the credits never expire.
        </p>
        <Problem meta={fields.expiresAfter} />
      </div>
      <div>
        <label htmlFor={fields.reason.id} className="label">
          Reason (required, kept in the audit log)
        </label>
        <textarea
          {...getTextareaProps(fields.reason, { ariaDescribedBy: describedBy(fields.reason) })}
          key={fields.reason.key}
          rows={2}
          maxLength={500}
          className="input mt-1"
        />
        <Problem meta={fields.reason} />
      </div>
      {large ? (
        <div className="rounded-md bg-amber-50 p-3 ring-1 ring-amber-300" data-testid="confirm-large">
          <div className="flex items-start gap-2">
            <input
              {...getInputProps(fields.confirmLarge, { type: "checkbox", ariaDescribedBy: describedBy(fields.confirmLarge, confirmHint) })}
              key={fields.confirmLarge.key}
              className="mt-1 h-4 w-4 rounded border-slate-400 text-indigo-700 focus-visible:ring-2 focus-visible:ring-indigo-600"
            />
            <label htmlFor={fields.confirmLarge.id} className="text-sm font-medium text-slate-900">
              I confirm this large change
            </label>
          </div>
          <p id={confirmHint} className="mt-1 text-sm text-slate-800">
            Needed for more than {largeThreshold.toLocaleString("en-US")} credits either way.
          </p>
          <Problem meta={fields.confirmLarge} />
        </div>
      ) : null}
      <button type="submit" className="btn-primary" disabled={submitting}>
        {submitting ? "Applying…" : "Apply change"}
      </button>
    </Form>
  );
}

export type RefundOption = {
  id: number;
  createdAt: number;
  credits: number;
  description: string;
  price: string | null;
  refundedCredits: number;
  /** Money still refundable, in the currency's minor unit (null: the purchase did not record it). */
  leftToRefund: number | null;
};

export function RefundPurchaseForm({
  token,
  purchases,
  selected,
  lastResult,
}: {
  token: string;
  purchases: RefundOption[];
  selected: number | null;
  lastResult?: SubmissionResult<string[]>;
}) {
  const submitting = useSubmitting("refund");
  const schema = refundPurchaseSchema(Object.fromEntries(purchases.map((p) => [p.id, p.leftToRefund])));
  const [form, fields] = useForm({
    id: "refund-purchase",
    lastResult,
    constraint: getZodConstraint(schema),
    onValidate: ({ formData }) => parseWithZod(formData, { schema }),
    shouldValidate: "onSubmit",
    shouldRevalidate: "onInput",
    defaultValue: { transactionId: selected ? String(selected) : "" },
  });
  const hint = `${form.id}-hint`;
  const amountHint = `${fields.amount.id}-hint`;
  // The anchor (#refund, from the ledger's "Refund" links) is on a wrapper: the form's own id is
  // Conform's, and every field points at it with form="…", so it must not be overridden.
  return (
    <div id="refund">
      <Form method="post" {...getFormProps(form)} className="card space-y-4" aria-labelledby="refund-heading">
        <h2 id="refund-heading" className="text-lg font-semibold">
          Refund a purchase
        </h2>
        <p id={hint} className="text-sm text-slate-700">
          The payment is refunded through Stripe, in full or the amount you enter. The refund is requested now; the credits are
          taken back, in proportion to the money refunded, when Stripe confirms it.
        </p>
        <FormErrors errors={form.errors} id={form.errorId} />
        {purchases.length === 0 ? (
          <p className="text-sm text-slate-800">No purchase of this user can be refunded.</p>
        ) : (
          <>
            <input type="hidden" name="intent" value="refund" />
            <input type="hidden" name="token" value={token} />
            <div>
              <label htmlFor={fields.transactionId.id} className="label">
                Purchase
              </label>
              <select
                {...getSelectProps(fields.transactionId, { ariaDescribedBy: describedBy(fields.transactionId) })}
                key={`${fields.transactionId.key}-${selected ?? ""}`}
                className="input mt-1"
              >
                <option value="">Choose a purchase…</option>
                {purchases.map((p) => (
                  <option key={p.id} value={p.id}>
                    #{p.id} · {formatUtc(p.createdAt, false)} · {p.credits.toLocaleString("en-US")} credits
                    {p.price ? ` · ${p.price}` : ""}
                    {p.refundedCredits ? ` · ${p.refundedCredits} already taken back` : ""}
                  </option>
                ))}
              </select>
              <Problem meta={fields.transactionId} />
            </div>
            <div>
              <label htmlFor={fields.amount.id} className="label">
                Amount to refund (optional)
              </label>
              <input
                {...getInputProps(fields.amount, { type: "text", ariaDescribedBy: describedBy(fields.amount, amountHint) })}
                key={fields.amount.key}
                inputMode="decimal"
                autoComplete="off"
                className="input mt-1 sm:w-48"
              />
              <p id={amountHint} className="mt-1 text-sm text-slate-700">
                In the payment&apos;s currency, e.g. 2.50. Leave it empty to refund all that is left of the payment.
              </p>
              <Problem meta={fields.amount} />
            </div>
            <div>
              <label htmlFor={fields.reason.id} className="label">
                Reason (required, kept in the audit log)
              </label>
              <textarea
                {...getTextareaProps(fields.reason, { ariaDescribedBy: describedBy(fields.reason, hint) })}
                key={fields.reason.key}
                rows={2}
                maxLength={500}
                className="input mt-1"
              />
              <Problem meta={fields.reason} />
            </div>
            <button type="submit" className="btn-danger" disabled={submitting}>
              {submitting ? "Requesting…" : "Request refund"}
            </button>
          </>
        )}
      </Form>
    </div>
  );
}
