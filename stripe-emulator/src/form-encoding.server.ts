import { invalidRequest } from "./errors.server";

/**
 * Stripe's request encoding: `application/x-www-form-urlencoded` with bracket notation, as the
 * stripe SDK writes it (`line_items[0][price]=price_x&metadata[userId]=7&expand[0]=line_items`).
 * `expand[]=a&expand[]=b` (curl style) is accepted too.
 */
export type FormValue = string | FormValue[] | FormObject;
export type FormObject = { [key: string]: FormValue };

const KEY_PATTERN = /^([^[\]]+)((?:\[[^[\]]*\])*)$/;

export function parseStripeForm(encoded: string): FormObject {
  const root: FormObject = {};
  for (const [rawKey, value] of new URLSearchParams(encoded)) {
    const match = KEY_PATTERN.exec(rawKey);
    if (!match) throw invalidRequest(`Invalid parameter name: ${rawKey}`, { param: rawKey });
    const segments = [match[1], ...[...match[2].matchAll(/\[([^[\]]*)\]/g)].map((m) => m[1])];
    assign(root, segments, value, rawKey);
  }
  return arraysFromIndexes(root) as FormObject;
}

/** Objects whose keys are all `0..n` indexes (or `[]` pushes) become arrays, in index order. */
function arraysFromIndexes(value: FormValue): FormValue {
  if (typeof value === "string" || Array.isArray(value)) return value;
  const keys = Object.keys(value);
  const converted: FormObject = {};
  for (const key of keys) converted[key] = arraysFromIndexes(value[key]);
  if (keys.length > 0 && keys.every((key) => /^(0|[1-9]\d*)$/.test(key) || key.startsWith(PUSH))) {
    return keys
      .map((key) => ({ key, order: key.startsWith(PUSH) ? Number(key.slice(PUSH.length)) + 1e9 : Number(key) }))
      .sort((a, b) => a.order - b.order)
      .map(({ key }) => converted[key]);
  }
  return converted;
}

const PUSH = "\u0000push:";

function assign(target: FormObject, segments: string[], value: string, rawKey: string): void {
  let node = target;
  for (let i = 0; i < segments.length; i++) {
    let segment = segments[i];
    if (segment === "") segment = `${PUSH}${Object.keys(node).length}`;
    const last = i === segments.length - 1;
    const existing = node[segment];
    if (last) {
      if (existing !== undefined && typeof existing !== "string") {
        throw invalidRequest(`Conflicting values for parameter: ${rawKey}`, { param: rawKey });
      }
      node[segment] = value;
      return;
    }
    if (existing === undefined) {
      const child: FormObject = {};
      node[segment] = child;
      node = child;
    } else if (typeof existing === "string" || Array.isArray(existing)) {
      throw invalidRequest(`Conflicting values for parameter: ${rawKey}`, { param: rawKey });
    } else {
      node = existing;
    }
  }
}

/** `line_items[0][price]` for the path `["line_items", 0, "price"]`. */
export function paramName(path: ReadonlyArray<string | number>): string {
  const [head, ...rest] = path;
  return `${String(head ?? "")}${rest.map((part) => `[${String(part)}]`).join("")}`;
}
