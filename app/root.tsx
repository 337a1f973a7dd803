import type { LinksFunction, LoaderFunctionArgs, MetaFunction } from "@remix-run/node";
import type { ShouldRevalidateFunction } from "@remix-run/react";
import { json } from "@remix-run/node";
import {
  Form,
  isRouteErrorResponse,
  Link,
  Links,
  Meta,
  NavLink,
  Outlet,
  Scripts,
  ScrollRestoration,
  useLoaderData,
  useLocation,
  useRouteError,
  useRouteLoaderData,
} from "@remix-run/react";
import { NotFoundPage, RefusedPage, ServerErrorPage } from "~/components/error-pages";
import { useNonce } from "~/components/nonce-provider";
import { BalanceAlertBanner } from "~/components/balance-alert-banner";
import { ToastMessage } from "~/components/toast";
import { VerifyEmailBanner } from "~/components/verify-banner";
import { balanceAlertBannerOf } from "~/services/alerts/balance-alert-banner.server";
import { getOptionalUser } from "~/services/auth.server";
import { getRuntime } from "~/services/runtime.server";
import { getToast } from "~/services/toast.server";
import stylesheet from "~/tailwind.css";

export const links: LinksFunction = () => [
  { rel: "stylesheet", href: stylesheet },
  { rel: "icon", href: "/favicon.svg", type: "image/svg+xml" },
];

export const meta: MetaFunction = () => [{ title: "Credits Studio" }];

export async function loader({ request }: LoaderFunctionArgs) {
  const user = await getOptionalUser(request);
  const { toast, headers } = await getToast(request);
  const { config } = getRuntime();
  return json(
    {
      user: user ? { id: user.id, email: user.email, role: user.role, credits: user.credits, emailVerified: user.emailVerifiedAt !== null } : null,
      signupBonus: config.SIGNUP_BONUS_CREDITS,
      balanceAlert: user ? await balanceAlertBannerOf(getRuntime().db, user.id, config.appUrl) : null,
      toast,
      stripeTestMode: config.stripeEmulated || (config.STRIPE_SECRET_KEY?.includes("_test_") ?? false),
      stripeEmulated: config.stripeEmulated,
      // Error pages show a crash's stack in development only. Read here from the config, never from the
      // environment in a module the browser loads (tests/integration/security-secrets.test.ts checks).
      showErrorDetails: config.NODE_ENV === "development",
    },
    { headers: headers ?? undefined },
  );
}

/**
 * The root loader runs on every navigation, not only after a form post (Remix's default): it is
 * what consumes a flash message, so the next page gets none and a toast is shown on one page only.
 * It also keeps the balance in the nav bar current. It is two small reads.
 */
export const shouldRevalidate: ShouldRevalidateFunction = ({ currentUrl, nextUrl, defaultShouldRevalidate }) =>
  defaultShouldRevalidate || currentUrl.href !== nextUrl.href;

export function useOptionalUser() {
  return useRouteLoaderData<typeof loader>("root")?.user ?? null;
}

type RootData = NonNullable<ReturnType<typeof useRouteLoaderData<typeof loader>>>;

/**
 * The nav's links, balance and Log out, drawn twice: in a row on desktop and inside the phone
 * menu. Only one copy is displayed at a time (the other is display:none, so out of the
 * accessibility tree and invisible to role queries); test ids stay on the desktop copy only.
 */
function CreditBalance({ credits, testId }: { credits: number; testId: string }) {
  return (
    <span
      className="self-start whitespace-nowrap rounded-full bg-emerald-100 px-3 py-1 text-sm font-semibold text-emerald-900"
      data-testid={testId}
      aria-label={`Credit balance: ${credits}`}
    >
      {credits} credits
    </span>
  );
}

function NavItems({ user, inMenu }: { user: RootData["user"]; inMenu: boolean }) {
  const linkClass = ({ isActive }: { isActive: boolean }) =>
    `rounded-md px-2 py-1 text-sm font-medium ${
      isActive
        ? "bg-indigo-100 text-indigo-900"
        : "text-slate-700 hover:bg-slate-100"
    }`;
  return (
    <>
      <NavLink to="/pricing" className={linkClass}>
        Pricing
      </NavLink>
      {user ? (
        <>
          <NavLink to="/generate" className={linkClass}>
            Generate
          </NavLink>
          <NavLink to="/settings/billing" className={linkClass}>
            Billing
          </NavLink>
          <NavLink to="/settings/api-keys" className={linkClass}>
            API keys
          </NavLink>
          {user.role === "admin" ? (
            <NavLink to="/admin/credits" className={linkClass}>
              Admin
            </NavLink>
          ) : null}
          <NavLink
            to="/settings/account"
            className={linkClass}
            aria-label={`Account: ${user.email}`}
            data-testid={inMenu ? undefined : "nav-account"}
          >
            <span className="inline-block max-w-[16rem] truncate align-bottom">{user.email}</span>
          </NavLink>
          {/* On a phone the balance sits beside the Menu button, never hidden inside it. */}
          {inMenu ? null : <CreditBalance credits={user.credits} testId="credit-balance" />}
          <Form method="post" action="/logout">
            <button type="submit" className="btn-secondary py-1">
              Log out
            </button>
          </Form>
        </>
      ) : (
        <>
          <NavLink to="/login" className={linkClass}>
            Log in
          </NavLink>
          <Link to="/signup" className="btn-primary self-start py-1">
            Sign up
          </Link>
        </>
      )}
    </>
  );
}

function NavBar() {
  const data = useRouteLoaderData<typeof loader>("root");
  const user = data?.user ?? null;
  // A new page closes the phone menu: <details> keeps its open state across client navigations.
  const { pathname } = useLocation();
  const bannerClass = "bg-amber-200 px-4 py-1 text-center text-sm font-semibold text-amber-950";
  return (
    <header className="border-b border-slate-200 bg-white">
      {/* One line on a 390 px phone: the "why" in brackets is for wider screens only. */}
      {data?.stripeEmulated ? (
        <p className={bannerClass} role="note">
          Test mode — no real payments<span className="hidden sm:inline"> (local Stripe emulator)</span>
        </p>
      ) : data?.stripeTestMode ? (
        <p className={bannerClass} role="note">
          Test mode — no real payments<span className="hidden sm:inline"> (Stripe test keys)</span>
        </p>
      ) : null}
      <nav aria-label="Main" className="mx-auto flex max-w-5xl items-center gap-x-3 gap-y-2 px-4 py-3">
        <Link to="/" className="mr-auto text-lg font-bold text-slate-900">
          Credits Studio
        </Link>
        <div className="hidden flex-wrap items-center gap-x-3 gap-y-2 sm:flex">
          <NavItems user={user} inMenu={false} />
        </div>
        {user ? (
          <span className="sm:hidden">
            <CreditBalance credits={user.credits} testId="credit-balance-phone" />
          </span>
        ) : null}
        {/* The phone menu is a disclosure, so it opens without JavaScript too. */}
        <details key={pathname} className="group relative sm:hidden" data-testid="nav-menu">
          <summary className="btn-secondary cursor-pointer list-none py-1 [&::-webkit-details-marker]:hidden">
            Menu
          </summary>
          <div className="absolute right-0 z-20 mt-2 flex w-64 flex-col items-stretch gap-2 rounded-md bg-white p-3 shadow-lg ring-1 ring-slate-200">
            <NavItems user={user} inMenu />
          </div>
        </details>
      </nav>
      {user && !user.emailVerified ? <VerifyEmailBanner bonus={data?.signupBonus ?? 0} /> : null}
      {user && data?.balanceAlert ? <BalanceAlertBanner {...data.balanceAlert} /> : null}
    </header>
  );
}

/** On every page: what the site sells and the operator's own pages (their text is set in the env). */
function SiteFooter() {
  const links = [
    { to: "/pricing", label: "Pricing" },
    { to: "/terms", label: "Terms" },
    { to: "/privacy", label: "Privacy" },
    { to: "/support", label: "Support" },
  ];
  return (
    <footer className="mt-10 border-t border-slate-200 bg-white">
      <nav aria-label="Site" className="mx-auto flex max-w-5xl flex-wrap items-center gap-x-4 gap-y-2 px-4 py-4 text-sm">
        <span className="mr-auto text-slate-700">© Credits Studio</span>
        {links.map((l) => (
          <Link key={l.to} to={l.to} className="text-slate-700 underline hover:text-slate-900">
            {l.label}
          </Link>
        ))}
      </nav>
    </footer>
  );
}

/** First focusable element of every page: keyboard users jump over the nav (WCAG 2.4.1). */
function SkipLink() {
  return (
    <a
      href="#main"
      className="sr-only rounded-md bg-white px-3 py-2 text-sm font-semibold text-indigo-800 ring-2 ring-indigo-600 focus:not-sr-only focus:absolute focus:left-2 focus:top-2 focus:z-50"
    >
      Skip to content
    </a>
  );
}

export function Layout({ children }: { children: React.ReactNode }) {
  const nonce = useNonce();
  return (
    <html lang="en" className="h-full bg-slate-50">
      <head>
        <meta charSet="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        {/* Before the stylesheet arrives: a dark canvas, not a white flash, on a dark system. */}
        <meta name="color-scheme" content="light dark" />
        <Meta />
        <Links />
      </head>
      <body className="min-h-full text-slate-900">
        {children}
        <ScrollRestoration nonce={nonce} />
        <Scripts nonce={nonce} />
      </body>
    </html>
  );
}

export default function App() {
  const { toast } = useLoaderData<typeof loader>();
  return (
    <>
      <SkipLink />
      <NavBar />
      {toast ? <ToastMessage key={toast.id} toast={toast} /> : null}
      <main id="main" tabIndex={-1} className="mx-auto max-w-5xl px-4 py-6 focus:outline-none">
        <Outlet />
      </main>
      <SiteFooter />
    </>
  );
}

/**
 * Errors thrown by any route end here, inside the layout (nav included). People get plain words;
 * the error's own message and stack only in development (in production Remix does not even send
 * them to the browser, and the server render must not print them either).
 */
export function ErrorBoundary() {
  const error = useRouteError();
  // When the root loader itself failed there is no data: no details, the safe default.
  const showDetails = useRouteLoaderData<typeof loader>("root")?.showErrorDetails === true;
  let page: React.ReactNode;
  if (isRouteErrorResponse(error) && error.status === 404) page = <NotFoundPage />;
  else if (isRouteErrorResponse(error) && error.status < 500) {
    // Only our own refusals (requireAdmin's 403...) carry words meant for people; the router's 4xx
    // texts ("You made a POST request to ...") are for developers.
    const ours = (error.status === 401 || error.status === 403) && typeof error.data === "string" && error.data;
    page = <RefusedPage status={error.status} message={ours || null} />;
  } else {
    const detail = showDetails && error instanceof Error ? (error.stack ?? error.message) : undefined;
    page = <ServerErrorPage detail={detail} />;
  }
  return (
    <>
      <SkipLink />
      <NavBar />
      <main id="main" tabIndex={-1} className="mx-auto max-w-5xl px-4 py-6 focus:outline-none">
        {page}
      </main>
      <SiteFooter />
    </>
  );
}
