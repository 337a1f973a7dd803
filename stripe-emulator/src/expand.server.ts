import { invalidRequest } from "./errors.server";
import { buildList } from "./objects.server";
import type { StoredObject } from "./store.server";

/**
 * Stripe's `expand[]`: a field that holds an id is replaced by the object, and dotted paths go
 * deeper (`payment_intent.latest_charge`, `data.price.product` on lists). Some fields exist only
 * when expanded (`line_items` on a Checkout Session, `refunds` on a Charge).
 */

/** Fields the emulator can expand, per object type. */
const EXPANDABLE: Record<string, readonly string[]> = {
  "checkout.session": ["customer", "invoice", "line_items", "payment_intent", "setup_intent", "subscription"],
  subscription: ["customer", "latest_invoice"],
  invoice: ["customer", "payments"],
  invoice_payment: ["invoice"],
  "billing_portal.session": [],
  payment_intent: ["customer", "latest_charge", "payment_method"],
  payment_method: ["customer"],
  setup_intent: ["customer", "payment_method"],
  charge: ["customer", "payment_intent", "refunds"],
  refund: ["charge", "payment_intent"],
  dispute: ["charge", "payment_intent"],
  price: ["product"],
  product: ["default_price"],
  item: ["price"],
  list: ["data"],
};

const MAX_DEPTH = 4;

export type ExpandSources = {
  findObject(id: string): StoredObject | undefined;
  /** Lists that only appear when expanded, e.g. (`checkout.session`, `line_items`). */
  virtualList(objectType: string, field: string, parentId: string): { url: string; data: unknown[] } | undefined;
};

export function expandObject<T>(object: T, paths: readonly string[] | undefined, sources: ExpandSources): T {
  if (!paths || paths.length === 0) return object;
  const copy = structuredClone(object);
  for (const path of paths) {
    const segments = path.split(".");
    if (segments.length > MAX_DEPTH) {
      throw invalidRequest(`You cannot expand more than ${MAX_DEPTH} levels of a property (${path}).`, {
        param: "expand",
      });
    }
    expandAt(copy, segments, path, sources);
  }
  return copy;
}

function expandAt(target: unknown, segments: string[], path: string, sources: ExpandSources): void {
  if (segments.length === 0 || target === null || typeof target !== "object") return;
  const node = target as Record<string, unknown>;
  const [field, ...rest] = segments;
  const objectType = typeof node.object === "string" ? node.object : "";
  if (!EXPANDABLE[objectType]?.includes(field)) {
    throw invalidRequest(`This property cannot be expanded (${field}).`, { param: "expand" });
  }

  if (objectType === "list" && field === "data") {
    for (const item of node.data as unknown[]) expandAt(item, rest, path, sources);
    return;
  }

  let value = node[field];
  if (value === undefined && typeof node.id === "string") {
    const list = sources.virtualList(objectType, field, node.id);
    if (list) value = buildList(list.url, list.data, false);
  } else if (typeof value === "string") {
    const found = sources.findObject(value);
    if (!found) throw invalidRequest(`The object ${value} (${field}) cannot be expanded by the Stripe emulator.`, { param: "expand" });
    value = found;
  }
  node[field] = value;
  expandAt(value, rest, path, sources);
}
