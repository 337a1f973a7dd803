import { getFormProps, useForm, type SubmissionResult } from "@conform-to/react";
import { getZodConstraint, parseWithZod } from "@conform-to/zod";
import { Form, Link, useNavigation } from "@remix-run/react";
import type { z } from "zod";
import { FormErrors } from "./forms";

/**
 * A real POST form validated by Conform when JS is there (the same zod schema as the action).
 * `children` get the field metadata; an `intent` tells the account page's forms apart.
 */
export function ValidatedForm<Schema extends z.ZodTypeAny>({
  id,
  action,
  schema,
  lastResult,
  intent,
  submitLabel,
  danger = false,
  children,
}: {
  id: string;
  action: string;
  schema: Schema;
  lastResult: SubmissionResult<string[]> | undefined;
  intent?: string;
  submitLabel: string;
  danger?: boolean;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- Conform's field map of this schema
  children: (fields: any) => React.ReactNode;
}) {
  const navigation = useNavigation();
  const [form, fields] = useForm({
    id,
    lastResult,
    constraint: getZodConstraint(schema),
    onValidate: ({ formData }) => parseWithZod(formData, { schema }),
    shouldRevalidate: "onInput",
  });
  return (
    <Form method="post" action={action} {...getFormProps(form)} className="space-y-4">
      <FormErrors errors={form.errors} id={form.errorId} />
      {intent ? <input type="hidden" name="intent" value={intent} /> : null}
      {children(fields)}
      <button type="submit" className={danger ? "btn-danger" : "btn-primary"} disabled={navigation.state === "submitting"}>
        {submitLabel}
      </button>
    </Form>
  );
}

const LINK_PROBLEMS: Record<string, string> = {
  used: "This link was already used.",
  expired: "This link has expired.",
  invalid: "This link is not valid.",
};

/** What a dead mail link says, with the way to a new one. */
export function DeadLink({ reason, retryTo, retryLabel }: { reason: string; retryTo: string; retryLabel: string }) {
  return (
    <div role="alert" className="card max-w-md space-y-3">
      <p className="font-semibold">{LINK_PROBLEMS[reason] ?? LINK_PROBLEMS.invalid}</p>
      <p>
        <Link className="text-indigo-700 underline" to={retryTo}>
          {retryLabel}
        </Link>
      </p>
    </div>
  );
}
