import { getFormProps, useForm, type SubmissionResult } from "@conform-to/react";
import { parseWithZod, getZodConstraint } from "@conform-to/zod";
import { Form, useNavigation } from "@remix-run/react";
import type { z } from "zod";
import { Field, FormErrors } from "./forms";

/**
 * Name of the sign-up honeypot: a field people never see (display:none, out of the tab order and
 * the accessibility tree) and form-filling bots do. The sign-up action refuses a filled one.
 */
export const HONEYPOT_FIELD = "website";

/** The sign-up and log-in forms: a real POST form, validated on the client when JS is there. */
export function AuthForm({
  id,
  action,
  schema,
  lastResult,
  redirectTo,
  submitLabel,
  passwordAutoComplete,
  passwordHint,
  honeypot = false,
}: {
  id: string;
  /** The route's own path: the form posts there, carrying only the checked redirectTo. */
  action: string;
  schema: z.ZodTypeAny;
  lastResult: SubmissionResult<string[]> | undefined;
  redirectTo: string | null;
  submitLabel: string;
  passwordAutoComplete: "new-password" | "current-password";
  passwordHint?: string;
  honeypot?: boolean;
}) {
  const navigation = useNavigation();
  const [form, fields] = useForm({
    id,
    lastResult,
    constraint: getZodConstraint(schema),
    onValidate: ({ formData }) => parseWithZod(formData, { schema }),
    // Not on blur: pressing the submit button blurs the field, and an error line vanishing at
    // that moment moves the button from under the pointer, so the click is lost. While typing,
    // the layout may move; at the click it stays put.
    shouldRevalidate: "onInput",
  });
  return (
    // An explicit action: left out, Remix would post to the current URL and keep whatever
    // ?redirectTo= the link carried, hostile or not.
    <Form method="post" action={redirectTo ? `${action}?${new URLSearchParams({ redirectTo })}` : action} {...getFormProps(form)} className="card max-w-md space-y-4">
      <FormErrors errors={form.errors} id={form.errorId} />
      <Field meta={fields.email} label="Email" type="email" autoComplete="email" />
      <Field
        meta={fields.password}
        label="Password"
        type="password"
        autoComplete={passwordAutoComplete}
        hint={passwordHint}
      />
      {honeypot ? (
        <div className="hidden" aria-hidden="true">
          <label htmlFor={`${id}-${HONEYPOT_FIELD}`}>Leave this field empty</label>
          <input id={`${id}-${HONEYPOT_FIELD}`} name={HONEYPOT_FIELD} type="text" tabIndex={-1} autoComplete="off" defaultValue="" />
        </div>
      ) : null}
      {redirectTo ? <input type="hidden" name="redirectTo" value={redirectTo} /> : null}
      <button type="submit" className="btn-primary w-full" disabled={navigation.state === "submitting"}>
        {submitLabel}
      </button>
    </Form>
  );
}
