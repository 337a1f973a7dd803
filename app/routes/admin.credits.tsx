import type { LoaderFunctionArgs } from "@remix-run/node";
import { json } from "@remix-run/node";
import { Link, Outlet, useLocation } from "@remix-run/react";
import { requireAdmin } from "~/services/auth.server";

// The admin console's frame: its sections. Every admin route (this one included) checks the
// role itself, because Remix runs nested loaders in parallel.
export async function loader({ request }: LoaderFunctionArgs) {
  await requireAdmin(request);
  return json({});
}

const SECTIONS = [
  // Users: the list and every user's page.
  { to: "/admin/credits", label: "Users", match: /^\/admin\/credits(\/\d+)?\/?$/ },
  { to: "/admin/credits/overview", label: "Overview", match: /^\/admin\/credits\/overview\/?$/ },
  { to: "/admin/credits/audit", label: "Audit log", match: /^\/admin\/credits\/audit\/?$/ },
];

export default function AdminCreditsLayout() {
  const { pathname } = useLocation();
  return (
    <div className="space-y-6">
      <nav aria-label="Admin console" className="flex flex-wrap gap-2">
        {SECTIONS.map((s) => {
          const active = s.match.test(pathname);
          return (
            <Link
              key={s.to}
              to={s.to}
              aria-current={active ? "page" : undefined}
              className={`rounded-md px-3 py-1.5 text-sm font-medium focus:outline-none focus-visible:ring-2 focus-visible:ring-indigo-600 focus-visible:ring-offset-2 ${
                active ? "bg-indigo-700 text-white" : "bg-white text-slate-800 ring-1 ring-inset ring-slate-300 hover:bg-slate-50"
              }`}
            >
              {s.label}
            </Link>
          );
        })}
      </nav>
      <Outlet />
    </div>
  );
}
