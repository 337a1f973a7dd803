import type { LoaderFunctionArgs } from "@remix-run/node";
import { json } from "@remix-run/node";
import { Outlet } from "@remix-run/react";
import { AdminNav } from "~/components/admin-nav";
import { requireAdmin } from "~/services/auth.server";

// The admin console's frame: its sections. Every admin route (this one included) checks the
// role itself, because Remix runs nested loaders in parallel.
export async function loader({ request }: LoaderFunctionArgs) {
  await requireAdmin(request);
  return json({});
}

export default function AdminCreditsLayout() {
  return (
    <div className="space-y-6">
      <AdminNav />
      <Outlet />
    </div>
  );
}
