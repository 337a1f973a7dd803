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
import { Form, Link } from "@remix-run/react";
import { useEffect, useState } from "react";
import type { VideoPrices } from "~/services/money/pricing.server";
import { Problem, useSubmitting } from "./forms";
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

/** Lengths the table lists without JavaScript: the default clip, the unit clip and a few more. */
function tableLengths(prices: VideoPrices): number[] {
  const max = prices.bySeconds[DEFAULT_VIDEO_RESOLUTION].length;
  return [...new Set([1, DEFAULT_VIDEO_SECONDS, prices.perSeconds, prices.perSeconds * 2, max])].filter((s) => s >= 1 && s <= max).sort((a, b) => a - b);
}

function PriceTable({ prices }: { prices: VideoPrices }) {
  const lengths = tableLengths(prices);
  return (
    <table id="video-price-table" className="w-full text-left text-sm" data-testid="video-price-table">
      <caption className="text-left text-sm font-medium text-slate-900">Video prices in credits</caption>
      <thead>
        <tr>
          <th scope="col" className="py-1 pr-2 font-medium">
            Length
          </th>
          {VIDEO_RESOLUTIONS.map((r) => (
            <th key={r} scope="col" className="py-1 pr-2 font-medium">
              {r}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {lengths.map((s) => (
          <tr key={s} className="border-t border-slate-200">
            <th scope="row" className="py-1 pr-2 font-normal">
              {s} s
            </th>
            {VIDEO_RESOLUTIONS.map((r) => (
              <td key={r} className="py-1 pr-2 tabular-nums">
                {prices.bySeconds[r][s - 1]}
              </td>
            ))}
          </tr>
        ))}
      </tbody>
    </table>
  );
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

// The balance itself is shown once, in the header; the forms only say what a job costs.
function CostLine({ cost }: { cost: string }) {
  return (
    <p className="text-sm text-slate-700">
      Costs <strong>{cost}</strong>.
    </p>
  );
}

/** Where to get more credits: said wherever the balance is too low (a refusal or a disabled button). */
export function BuyCreditsLinks() {
  return (
    <span>
      {" "}
      <Link to="/pricing" className="font-semibold underline underline-offset-2">
        See prices
      </Link>{" "}
      or{" "}
      <Link to="/settings/billing" className="font-semibold underline underline-offset-2">
        buy credits
      </Link>
      .
    </span>
  );
}

/** The form's errors; a refusal for too little credit links to where credits are bought. */
function GenerationErrors({ errors, id }: { errors?: string[]; id?: string }) {
  if (!errors?.length) return null;
  const poor = errors.some((e) => e.startsWith("Not enough credits"));
  return (
    <div id={id} role="alert" className="rounded-md bg-red-50 p-3 text-sm text-red-900 ring-1 ring-red-300" data-testid="form-error">
      {errors.join(" ")}
      {poor ? <BuyCreditsLinks /> : null}
    </div>
  );
}

function TooLittle({ id, cost, balance }: { id: string; cost: number; balance: number }) {
  return (
    <p id={id} className="rounded-md bg-amber-50 p-3 text-sm text-amber-950 ring-1 ring-amber-300" data-testid="too-little">
      Not enough credits: this costs {cost} and your balance is {balance}.
      <BuyCreditsLinks />
    </p>
  );
}

export function ImageForm({
  lastResult,
  cost,
  balance,
  requestKey,
  prompt,
}: {
  lastResult: SubmissionResult<string[]> | undefined;
  cost: number;
  balance: number;
  requestKey: string;
  /** "Use this prompt": filled in by the server. */
  prompt?: string;
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
    defaultValue: { size: DEFAULT_IMAGE_SIZE, prompt: prompt ?? "" },
  });
  const tooLittle = balance < cost;
  return (
    <Form method="post" action="/generate" {...getFormProps(form)} className="card space-y-4" aria-labelledby="image-form-title">
      <h2 id="image-form-title" className="text-lg font-semibold">
        Image
      </h2>
      <CostLine cost={`${cost} credits`} />
      <GenerationErrors errors={form.errors} id={form.errorId} />
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
      {tooLittle ? <TooLittle id="image-too-little" cost={cost} balance={balance} /> : null}
      <button
        type="submit"
        className="btn-primary w-full"
        disabled={submitting || tooLittle}
        aria-describedby={tooLittle ? "image-too-little" : undefined}
      >
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
  prompt,
}: {
  lastResult: SubmissionResult<string[]> | undefined;
  prices: VideoPrices;
  balance: number;
  previewNote: string | null;
  requestKey: string;
  prompt?: string;
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
    defaultValue: { resolution: DEFAULT_VIDEO_RESOLUTION, durationSeconds: String(DEFAULT_VIDEO_SECONDS), prompt: prompt ?? "" },
  });
  // Without JavaScript the page cannot follow the length typed, so it shows a price table; once
  // hydrated, the price of the chosen clip is on the button and follows every change.
  const [hydrated, setHydrated] = useState(false);
  useEffect(() => setHydrated(true), []);
  const cost = hydrated ? chosenVideoCost(prices, fields.resolution.value, fields.durationSeconds.value) : null;
  // With JS: the chosen clip. Without: even the cheapest clip is out of reach (the server refuses
  // anything dearer with 402 and says so, with the same links).
  const cheapest = Math.min(...VIDEO_RESOLUTIONS.map((r) => prices.bySeconds[r][0]));
  const needed = cost ?? cheapest;
  const tooLittle = balance < needed;
  return (
    <Form method="post" action="/generate" {...getFormProps(form)} className="card space-y-4" aria-labelledby="video-form-title">
      <h2 id="video-form-title" className="text-lg font-semibold">
        Video
      </h2>
      <CostLine cost={videoRule(prices)} />
      {hydrated ? null : <PriceTable prices={prices} />}
      {cost !== null ? (
        <p className="text-sm text-slate-700" data-testid="video-cost" aria-live="polite">
          This video costs <strong>{cost} credits</strong>.
        </p>
      ) : null}
      {previewNote ? <p className="text-sm text-slate-600">{previewNote}</p> : null}
      <GenerationErrors errors={form.errors} id={form.errorId} />
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
                {r}
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
      {tooLittle ? <TooLittle id="video-too-little" cost={needed} balance={balance} /> : null}
      <button
        type="submit"
        className="btn-primary w-full"
        disabled={submitting || tooLittle}
        aria-describedby={tooLittle ? "video-too-little" : hydrated ? undefined : "video-price-table"}
      >
        {submitting ? "Starting…" : cost !== null ? `Generate video (${cost} credits)` : "Generate video (price in the table)"}
      </button>
    </Form>
  );
}
