import { z } from "zod";
import { IMAGE_SIZES, MAX_VIDEO_SECONDS, VIDEO_RESOLUTIONS } from "./generation-options";

// What a person or an API client may ask for. Shared by the server (the /generate actions and the
// JSON API) and the browser (Conform's client-side validation), so it must not live in a
// *.server.ts module. The providers validate again at their own boundary.

export { IMAGE_SIZES, MAX_VIDEO_SECONDS, VIDEO_RESOLUTIONS };

/** Longest prompt we accept (the providers allow more; a prompt is a sentence, not a document). */
export const PROMPT_MAX_LENGTH = 2000;
export const DEFAULT_IMAGE_SIZE = "1024x1024" as const;
export const DEFAULT_VIDEO_RESOLUTION = "720p" as const;
export const DEFAULT_VIDEO_SECONDS = 4;

export const PromptSchema = z
  .string({ required_error: "A prompt is required", invalid_type_error: "The prompt must be text" })
  .trim()
  .min(1, "The prompt must not be empty")
  .max(PROMPT_MAX_LENGTH, `The prompt must be at most ${PROMPT_MAX_LENGTH} characters`);

const SizeSchema = z.enum(IMAGE_SIZES, {
  errorMap: () => ({ message: `Choose a size: ${IMAGE_SIZES.join(", ")}` }),
});

const ResolutionSchema = z.enum(VIDEO_RESOLUTIONS, {
  errorMap: () => ({ message: `Choose a resolution: ${VIDEO_RESOLUTIONS.join(" or ")}` }),
});

const durationMessage = `The duration must be a whole number of seconds from 1 to ${MAX_VIDEO_SECONDS}`;
/** A number in JSON, a string in a form: both must be a whole number of seconds. */
const DurationSchema = z
  .union([z.number(), z.string().trim().regex(/^\d{1,4}$/, durationMessage).transform(Number)], {
    errorMap: () => ({ message: durationMessage }),
  })
  .pipe(z.number().int(durationMessage).min(1, durationMessage).max(MAX_VIDEO_SECONDS, durationMessage));

export const ImageInputSchema = z.object({
  prompt: PromptSchema,
  size: SizeSchema.default(DEFAULT_IMAGE_SIZE),
});

export const VideoInputSchema = z.object({
  prompt: PromptSchema,
  resolution: ResolutionSchema.default(DEFAULT_VIDEO_RESOLUTION),
  durationSeconds: DurationSchema.default(DEFAULT_VIDEO_SECONDS),
});

export type ImageInput = z.infer<typeof ImageInputSchema>;
export type VideoInput = z.infer<typeof VideoInputSchema>;

/** The /generate page posts both forms to one action; `intent` says which. */
export const GENERATE_INTENTS = ["image", "video"] as const;
export type GenerateIntent = (typeof GENERATE_INTENTS)[number];
/** A random key rendered in each form: a double-submitted form is the same request (one job). */
export const RequestKeySchema = z
  .string()
  .trim()
  .min(8, "The request key must be 8 to 200 characters")
  .max(200, "The request key must be 8 to 200 characters")
  .regex(/^[\x21-\x7e]+$/, "The request key must be printable ASCII without spaces");
export const ImageFormSchema = ImageInputSchema.extend({ intent: z.literal("image"), requestKey: RequestKeySchema.optional() });
export const VideoFormSchema = VideoInputSchema.extend({ intent: z.literal("video"), requestKey: RequestKeySchema.optional() });

/** The JSON API is strict: an unknown field (a typo such as `resoluton`) is an error, not ignored. */
export const ImageApiSchema = ImageInputSchema.strict();
export const VideoApiSchema = VideoInputSchema.strict();

/** Generation ids as the service makes them: safe in URLs and file names. */
export const GENERATION_ID_PATTERN = /^gen_[0-9a-f]{24}$/;

/** The gallery's Delete form (after its confirm step). */
export const DeleteFormSchema = z.object({
  intent: z.literal("delete"),
  id: z.string().regex(GENERATION_ID_PATTERN, "No such generation"),
});

/**
 * "Use this prompt": `/generate?prompt=…&kind=video` prefills a form on the server, so the link
 * works without JavaScript. Anything malformed is simply not prefilled.
 */
export const PrefillSchema = z.object({
  prompt: z.string().trim().min(1).max(PROMPT_MAX_LENGTH),
  kind: z.enum(GENERATE_INTENTS).catch("image"),
});
export type Prefill = z.infer<typeof PrefillSchema>;
