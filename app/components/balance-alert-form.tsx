import { getFormProps, getInputProps, useForm, type SubmissionResult } from "@conform-to/react";
import { getZodConstraint, parseWithZod } from "@conform-to/zod";
import { Form, useActionData, useLocation, useNavigation } from "@remix-run/react";
import { ALERT_THRESHOLD_MAX, BalanceAlertFormSchema } from "~/utils/balance-alert-schemas";

// The billing page's "Balance alert" form: a real POST (intent=balance-alert) that works without
// JavaScript; with it, Conform checks the value in the browser with the server's schema.

type AlertActionData = { intent?: string; result?: SubmissionResult<string[]> };

export function BalanceAlertForm({ thresholdCredits, below }: { thresholdCredits: number | null; below: boolean }) {
  const actionData = useActionData<AlertActionData>();
  const navigation = useNavigation();
  const location = useLocation();
  const submitting = navigation.state === "submitting" && navigation.formData?.get("intent") === "balance-alert";
  const [form, fields] = useForm({
    id: `balance-alert-${location.key}`,
    lastResult: actionData?.intent === "balance-alert" ? actionData.result : undefined,
    constraint: getZodConstraint(BalanceAlertFormSchema),
    defaultValue: { thresholdCredits: thresholdCredits === null ? "" : String(thresholdCredits) },
    onValidate: ({ formData }) => parseWithZod(formData, { schema: BalanceAlertFormSchema }),
    shouldValidate: "onSubmit",
    shouldRevalidate: "onInput",
  });
  const hintId = `${fields.thresholdCredits.id}-hint`;
  const errors = fields.thresholdCredits.errors;
  return (
    <section aria-labelledby="balance-alert-heading" className="card">
      <h2 id="balance-alert-heading" className="text-lg font-semibold">
        Balance alert
      </h2>
      <p className="mt-1 text-sm text-slate-700" data-testid="balance-alert-status">
        {thresholdCredits === null
          ? "Off: no mail about a low balance."
          : `On: one mail when your balance falls below ${thresholdCredits.toLocaleString("en-US")} credits${below ? " (it is below now)" : ""}.`}
      </p>
      <Form method="post" {...getFormProps(form)} className="mt-2 flex flex-wrap items-start gap-2" data-testid="balance-alert-form">
        <input type="hidden" name="intent" value="balance-alert" />
        <div className="min-w-48 flex-1">
          <label htmlFor={fields.thresholdCredits.id} className="label">
            Mail me when my balance falls below (credits)
          </label>
          <input
            {...getInputProps(fields.thresholdCredits, { type: "text", ariaDescribedBy: hintId })}
            key={fields.thresholdCredits.key}
            inputMode="numeric"
            autoComplete="off"
            className="input mt-1 w-48"
          />
          <p id={hintId} className="mt-1 text-sm text-slate-700">
            A whole number from 1 to {ALERT_THRESHOLD_MAX.toLocaleString("en-US")}. Leave it empty to turn the alert off.
          </p>
          {errors?.length ? (
            <p id={fields.thresholdCredits.errorId} className="field-error" role="alert">
              {errors.join(" ")}
            </p>
          ) : null}
        </div>
        <button type="submit" className="btn-primary mt-7" disabled={submitting}>
          {submitting ? "Saving…" : "Save alert"}
        </button>
      </Form>
    </section>
  );
}
