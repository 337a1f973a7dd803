import { renderImage } from "../providers/local-art.server";

/**
 * What the landing page shows the product makes: real pictures from the built-in local generator
 * (the same renderImage a generation uses), for fixed prompts. Each is drawn on its first request
 * and kept in memory: a few hundred KB for the process's life, never redrawn.
 */
export const LANDING_EXAMPLES = [
  { slug: "harbour-at-dawn", prompt: "A quiet harbour at dawn, boats and soft light" },
  { slug: "neon-forest", prompt: "A neon forest at night with glowing mushrooms" },
  { slug: "desert-planet", prompt: "A desert planet with two suns over red dunes" },
] as const;

export const EXAMPLE_SIZE = 384;

const cache = new Map<string, Buffer>();

export function landingExamplePng(slug: string): Buffer | null {
  const example = LANDING_EXAMPLES.find((e) => e.slug === slug);
  if (!example) return null;
  let png = cache.get(slug);
  if (!png) {
    png = renderImage(example.prompt, EXAMPLE_SIZE, EXAMPLE_SIZE);
    cache.set(slug, png);
  }
  return png;
}
