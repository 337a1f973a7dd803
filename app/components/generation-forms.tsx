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
import { useEffect, useState } from "react";
import type { VideoPrices } from "~/services/money/pricing.server";
import { FormErrors, Problem, useSubmitting } from "./forms";
import {
  DEFAULT_IMAGE_SIZE,
  DEFAULT_VIDEO_RESOLUTION,
  DEFAULT_VIDEO_SECONDS,
  IMAGE_SIZES,
  ImageFormSchema,
  MAX_VIDEO_SECONDS,
  PROMPT_MAX_LENGTH,
  VIDEO_RESOLUTIONS,
  VideoFormSchema,
} from "~/utils/generation-schemas";

// The two forms of /generate. Real POST forms (they work without JavaScript); with JavaScript,
// Conform validates them in the browser with the same schemas the server uses.

/** The price of the length and resolution chosen now, or null while the field holds no valid
 * length (the server's schema answers that on submit). */
function chosenVideoCost(prices: VideoPrices, resolution: unknown, seconds: unknown): number | null {
  const r = VIDEO_RESOLUTIONS.find((v) => v === resolution) ?? DEFAULT_VIDEO_RESOLUTION;
  const s = typeof seconds === "string" && /^\d{1,2}$/.test(seconds.trim()) ? Number(seconds) : NaN;
  return prices.bySeconds[r][s - 1] ?? null;
}

/** "50 credits per 8 s at 720p, 100 at 1080p": the rule, true whatever length is typed. */
function videoRule(prices: VideoPrices): string {
  const [first, ...rest] = VIDEO_RESOLUTIONS;
  const others = rest.map((r) => `, ${prices.perClip[r]} at ${r}`).join("");
  return `${prices.perClip[first]} credits per ${prices.perSeconds} s at ${first}${others}; other lengths pro rata, rounded up`;
}

function PromptField({ meta, label }: { meta: FieldMetadata<string>; label: string }) {
  const hintId = `${meta.id}-hint`;
  return (
    <div>
      <label htmlFor={meta.id} className="label">
        {label}
      </label>
      <textarea
        {...getTextareaProps(meta, { ariaDescribedBy: meta.errors?.length ? `${meta.errorId} ${hintId}` : hintId })}
        key={meta.key}
        rows={3}
        maxLength={PROMPT_MAX_LENGTH}
        className="input mt-1"
      />
      <p id={hintId} className="mt-1 text-sm text-slate-600">
        Up to {PROMPT_MAX_LENGTH.toLocaleString("en")} characters.
      </p>
      <Problem meta={meta} />
    </div>
  );
}

function CostLine({ cost, balance }: { cost: string; balance: number }) {
  return (
    <p className="text-sm text-slate-700">
      Costs <strong>{cost}</strong>. Your balance: <strong>{balance} credits</strong>.
    </p>
  );
}

export function ImageForm({
  lastResult,
  cost,
  balance,
  requestKey,
}: {
  lastResult: SubmissionResult<string[]> | undefined;
  cost: number;
  balance: number;
  requestKey: string;
}) {
  const submitting = useSubmitting("image");
  const [form, fields] = useForm({
    id: "image-form",
    lastResult,
    constraint: getZodConstraint(ImageFormSchema),
    onValidate: ({ formData }) => parseWithZod(formData, { schema: ImageFormSchema }),
    shouldValidate: "onSubmit",
    // Not on blur: pressing the submit button blurs the field, and an error line vanishing at
    // that moment moves the button from under the pointer, so the click is lost. While typing,
    // the layout may move; at the click it stays put.
    shouldRevalidate: "onInput",
    defaultValue: { size: DEFAULT_IMAGE_SIZE },
  });
  return (
    <Form method="post" {...getFormProps(form)} className="card space-y-4" aria-labelledby="image-form-title">
      <h2 id="image-form-title" className="text-lg font-semibold">
        Image
      </h2>
      <CostLine cost={`${cost} credits`} balance={balance} />
      <FormErrors errors={form.errors} id={form.errorId} />
      <input type="hidden" name="intent" value="image" />
      <input type="hidden" name="requestKey" value={requestKey} />
      <PromptField meta={fields.prompt} label="Image prompt" />
      <div>
        <label htmlFor={fields.size.id} className="label">
          Size
        </label>
        <select {...getSelectProps(fields.size)} key={fields.size.key} className="input mt-1">
          {IMAGE_SIZES.map((size) => (
            <option key={size} value={size}>
              {size.replace("x", " × ")}
            </option>
          ))}
        </select>
        <Problem meta={fields.size} />
      </div>
      <button type="submit" className="btn-primary w-full" disabled={submitting}>
        {submitting ? "Generating…" : `Generate image (${cost} credits)`}
      </button>
    </Form>
  );
}

export function VideoForm({
  lastResult,
  prices,
  balance,
  previewNote,
  requestKey,
}: {
  lastResult: SubmissionResult<string[]> | undefined;
  prices: VideoPrices;
  balance: number;
  previewNote: string | null;
  requestKey: string;
}) {
  const submitting = useSubmitting("video");
  const [form, fields] = useForm({
    id: "video-form",
    lastResult,
    constraint: getZodConstraint(VideoFormSchema),
    onValidate: ({ formData }) => parseWithZod(formData, { schema: VideoFormSchema }),
    shouldValidate: "onSubmit",
    // Not on blur: pressing the submit button blurs the field, and an error line vanishing at
    // that moment moves the button from under the pointer, so the click is lost. While typing,
    // the layout may move; at the click it stays put.
    shouldRevalidate: "onInput",
    defaultValue: { resolution: DEFAULT_VIDEO_RESOLUTION, durationSeconds: String(DEFAULT_VIDEO_SECONDS) },
  });
  // Without JavaScript the page cannot follow the length typed, so it states the rule only; once
  // hydrated, the price of the chosen clip is shown and follows every change.
  const [hydrated, setHydrated] = useState(false);
  useEffect(() => setHydrated(true), []);
  const cost = hydrated ? chosenVideoCost(prices, fields.resolution.value, fields.durationSeconds.value) : null;
  return (
    <Form method="post" {...getFormProps(form)} className="card space-y-4" aria-labelledby="video-form-title">
      <h2 id="video-form-title" className="text-lg font-semibold">
        Video
      </h2>
      <CostLine cost={videoRule(prices)} balance={balance} />
      {cost !== null ? (
        <p className="text-sm text-slate-700" data-testid="video-cost" aria-live="polite">
          This video costs <strong>{cost} credits</strong>.
        </p>
      ) : null}
      {previewNote ? <p className="text-sm text-slate-600">{previewNote}</p> : null}
      <FormErrors errors={form.errors} id={form.errorId} />
      <input type="hidden" name="intent" value="video" />
      <input type="hidden" name="requestKey" value={requestKey} />
      <PromptField meta={fields.prompt} label="Video prompt" />
      <div className="grid gap-4 sm:grid-cols-2">
        <div>
          <label htmlFor={fields.resolution.id} className="label">
            Resolution
          </label>
          <select {...getSelectProps(fields.resolution)} key={fields.resolution.key} className="input mt-1">
            {VIDEO_RESOLUTIONS.map((r) => (
              <option key={r} value={r}>
                {r} — {prices.perClip[r]} credits per {prices.perSeconds} s
              </option>
            ))}
          </select>
          <Problem meta={fields.resolution} />
        </div>
        <div>
          <label htmlFor={fields.durationSeconds.id} className="label">
            Duration (seconds)
          </label>
          <input
            {...getInputProps(fields.durationSeconds, { type: "number" })}
            key={fields.durationSeconds.key}
            min={1}
            max={MAX_VIDEO_SECONDS}
            step={1}
            inputMode="numeric"
            className="input mt-1"
          />
          <Problem meta={fields.durationSeconds} />
        </div>
      </div>
      <button type="submit" className="btn-primary w-full" disabled={submitting}>
        {submitting ? "Starting…" : cost !== null ? `Generate video (${cost} credits)` : "Generate video"}
      </button>
    </Form>
  );
}
