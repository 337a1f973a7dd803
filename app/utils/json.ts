/** A JSON object read from a text column (meta, details): anything else, or bad JSON, is {}.
 * Columns written by this app are always objects; older or hand-edited rows must not crash a page. */
export function parseJsonObject(text: string | null | undefined): Record<string, unknown> {
  if (!text) return {};
  try {
    const value: unknown = JSON.parse(text);
    return value && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}
