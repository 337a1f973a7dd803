import { json, type MetaFunction } from "@remix-run/node";
import { NotFoundPage } from "~/components/error-pages";

// Any address no other route matches. Being a route (not the router's own "no match" error), the
// root loader runs, so the page keeps the whole layout: the nav with the signed-in user's links.

export const meta: MetaFunction = () => [{ title: "Page not found · Credits Studio" }];

export function loader() {
  return json(null, { status: 404, headers: { "Cache-Control": "no-store" } });
}

// A form posted to an unknown address is as unknown, not "method not allowed".
export const action = loader;

export default function NotFound() {
  return <NotFoundPage />;
}
