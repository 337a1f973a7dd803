import type Stripe from "stripe";
import { invalidRequest } from "./errors.server";
import { buildList } from "./objects.server";
import type { ListParams } from "./params.server";

/** Stripe's cursor pagination (`limit`, `starting_after`, `ending_before`) over a list already in order. */
export function paginate<T extends { id: string }>(items: T[], params: ListParams, url: string): Stripe.ApiList<T> {
  const limit = params.limit ?? 10;
  let start = 0;
  if (params.starting_after) {
    const index = items.findIndex((item) => item.id === params.starting_after);
    if (index < 0) throw invalidRequest(`No such object: '${params.starting_after}'`, { param: "starting_after" });
    start = index + 1;
  } else if (params.ending_before) {
    const index = items.findIndex((item) => item.id === params.ending_before);
    if (index < 0) throw invalidRequest(`No such object: '${params.ending_before}'`, { param: "ending_before" });
    start = Math.max(0, index - limit);
    return buildList(url, items.slice(start, index), start > 0);
  }
  return buildList(url, items.slice(start, start + limit), start + limit < items.length);
}
