import type { FieldMetadata } from "@conform-to/react";
import { getInputProps } from "@conform-to/react";
import { useNavigation } from "@remix-run/react";

/** A labelled input with its errors wired up for screen readers (Conform metadata). */
export function Field({
  meta,
  label,
  type = "text",
  autoComplete,
  inputMode,
  hint,
}: {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- Conform field metadata of any scalar field
  meta: FieldMetadata<any, any, string[]>;
  label: string;
  type?: "text" | "email" | "password" | "number";
  autoComplete?: string;
  inputMode?: "numeric" | "text" | "email";
  hint?: string;
}) {
  const errorId = meta.errors?.length ? meta.errorId : undefined;
  const hintId = hint ? `${meta.id}-hint` : undefined;
  return (
    <div>
      <label htmlFor={meta.id} className="label">
        {label}
      </label>
      <input
        {...getInputProps(meta, { type, ariaDescribedBy: [errorId, hintId].filter(Boolean).join(" ") || undefined })}
        key={meta.key}
        autoComplete={autoComplete}
        inputMode={inputMode}
        className="input mt-1"
      />
      {hint ? (
        <p id={hintId} className="mt-1 text-sm text-slate-600">
          {hint}
        </p>
      ) : null}
      {meta.errors?.length ? (
        <p id={meta.errorId} className="field-error" role="alert">
          {meta.errors.join(" ")}
        </p>
      ) : null}
    </div>
  );
}

export function FormErrors({ errors, id }: { errors?: string[]; id?: string }) {
  if (!errors?.length) return null;
  return (
    <div id={id} role="alert" className="rounded-md bg-red-50 p-3 text-sm text-red-900 ring-1 ring-red-300">
      {errors.join(" ")}
    </div>
  );
}

/** A field's own errors, under it (its id is what the input's aria-describedby names). */
export function Problem({ meta }: { meta: FieldMetadata<unknown> }) {
  if (!meta.errors?.length) return null;
  return (
    <p id={meta.errorId} className="field-error" role="alert">
      {meta.errors.join(" ")}
    </p>
  );
}

/** True while the form whose submit button carries this `intent` is being sent. */
export function useSubmitting(intent: string): boolean {
  const navigation = useNavigation();
  return navigation.state === "submitting" && navigation.formData?.get("intent") === intent;
}
