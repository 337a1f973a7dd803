import type { LoaderFunctionArgs } from "@remix-run/node";
import { redirect } from "@remix-run/node";

// /verify-email/<token> is the same page as /verify-email?token=<token> (some mail clients mangle
// query strings); the GET only shows the button, so forwarding it changes nothing.
export async function loader({ params }: LoaderFunctionArgs) {
  const token = (params.token ?? "").slice(0, 200);
  return redirect(`/verify-email?${new URLSearchParams({ token })}`, { status: 303, headers: { "Cache-Control": "no-store", "Referrer-Policy": "same-origin" } });
}
