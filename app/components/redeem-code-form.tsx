import { getFormProps, getInputProps, useForm, type SubmissionResult } from "@conform-to/react";
import { getZodConstraint, parseWithZod } from "@conform-to/zod";
import { Form, useActionData, useLocation, useNavigation } from "@remix-run/react";
import { RedeemCodeFormSchema } from "~/utils/redeem-code-schemas";

// The billing page's "Redeem a code" form: a real POST (intent=redeem) that works without
// JavaScript; with it, Conform checks the code's shape in the browser with the server's schema.
// A refusal comes back as the code field's error; success is a toast after a redirect.

type RedeemActionData = { intent?: string; result?: SubmissionResult<string[]> };

export function RedeemCodeForm({ disabled = false }: { disabled?: boolean }) {
  const actionData = useActionData<RedeemActionData>();
  const navigation = useNavigation();
  // A new location after the success redirect starts the form over, empty.
  const location = useLocation();
  const submitting = navigation.state === "submitting" && navigation.formData?.get("intent") === "redeem";
  const [form, fields] = useForm({
    id: `redeem-code-${location.key}`,
    lastResult: actionData?.intent === "redeem" ? actionData.result : undefined,
    constraint: getZodConstraint(RedeemCodeFormSchema),
    onValidate: ({ formData }) => parseWithZod(formData, { schema: RedeemCodeFormSchema }),
    shouldValidate: "onSubmit",
    shouldRevalidate: "onInput",
  });
  const hintId = `${fields.code.id}-hint`;
  const errors = fields.code.errors;
  return (
    <section aria-labelledby="redeem-heading" className="card">
      <h2 id="redeem-heading" className="text-lg font-semibold">
        Redeem a code
      </h2>
      <Form method="post" {...getFormProps(form)} className="mt-2 flex flex-wrap items-start gap-2" data-testid="redeem-form">
        <input type="hidden" name="intent" value="redeem" />
        <div className="min-w-64 flex-1">
          <label htmlFor={fields.code.id} className="label">
            Code
          </label>
          <input
            {...getInputProps(fields.code, { type: "text", ariaDescribedBy: hintId })}
            key={fields.code.key}
            autoComplete="off"
            autoCapitalize="characters"
            spellCheck={false}
            placeholder="ABCD-EFGH-JKMN"
            className="input mt-1 font-mono uppercase"
          />
          <p id={hintId} className="mt-1 text-sm text-slate-700">
            Each code works once per account. Dashes and spaces do not matter.
          </p>
          {errors?.length ? (
            <p id={fields.code.errorId} className="field-error" role="alert">
              {errors.join(" ")}
            </p>
          ) : null}
        </div>
        <button type="submit" className="btn-primary mt-7" disabled={submitting || disabled}>
          {submitting ? "Redeeming…" : "Redeem"}
        </button>
      </Form>
    </section>
  );
}
