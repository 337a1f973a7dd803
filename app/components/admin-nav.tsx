import { Link, useLocation } from "@remix-run/react";

// The admin console's sections, shown on every admin page (the credits wing and /admin/mail).
const SECTIONS = [
  // Users: the list and every user's page.
  { to: "/admin/credits", label: "Users", match: /^\/admin\/credits(\/\d+)?\/?$/ },
  { to: "/admin/credits/overview", label: "Overview", match: /^\/admin\/credits\/overview\/?$/ },
  { to: "/admin/credits/codes", label: "Redeem codes", match: /^\/admin\/credits\/codes\/?$/ },
  { to: "/admin/credits/audit", label: "Audit log", match: /^\/admin\/credits\/audit\/?$/ },
  { to: "/admin/mail", label: "Mail delivery", match: /^\/admin\/mail\/?$/ },
];

export function AdminNav() {
  const { pathname } = useLocation();
  return (
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
  );
}
