// What may be asked of a generator: the sizes, resolutions and clip length every provider accepts.
// Plain constants, shared by the providers (services), the request schemas and the browser forms.

export const IMAGE_SIZES = ["256x256", "512x512", "1024x1024"] as const;
export const VIDEO_RESOLUTIONS = ["720p", "1080p"] as const;
/** Longest clip a caller may ask for. The OpenAI provider rounds up to 4, 8 or 12 seconds. */
export const MAX_VIDEO_SECONDS = 20;
