// What a caller may ask a generation for: shared by the forms and API schemas (utils) and the
// provider interface (services), so both layers read one list.

export const IMAGE_SIZES = ["256x256", "512x512", "1024x1024"] as const;
export const VIDEO_RESOLUTIONS = ["720p", "1080p"] as const;
/** Longest clip a caller may ask for. The OpenAI provider rounds up to 4, 8 or 12 seconds. */
export const MAX_VIDEO_SECONDS = 20;
export const MAX_PROMPT_LENGTH = 4000;

export type ImageSize = (typeof IMAGE_SIZES)[number];
export type VideoResolution = (typeof VIDEO_RESOLUTIONS)[number];
