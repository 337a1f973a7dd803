import type { ActionFunctionArgs } from "@remix-run/node";
import { redirect } from "@remix-run/node";
import { logout } from "~/services/auth.server";

export async function action({ request }: ActionFunctionArgs) {
  return logout(request);
}

// Logging out changes state, so it is POST only; a GET (a link, a prefetch) just goes home.
export async function loader() {
  return redirect("/", { status: 303 });
}
