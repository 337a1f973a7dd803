import type { LoaderFunctionArgs } from "@remix-run/node";
import { requireUser } from "~/services/auth.server";
import { redirectWithToast } from "~/services/toast.server";

export async function loader({ request }: LoaderFunctionArgs) {
  await requireUser(request);
  return redirectWithToast(request, "/settings/billing", {
    kind: "info",
    title: "Checkout cancelled",
    description: "Nothing was charged.",
  });
}
