import type { LoaderFunctionArgs, MetaFunction } from "@remix-run/node";
import { json } from "@remix-run/node";
import { Link, useLoaderData } from "@remix-run/react";
import { getRuntime } from "~/services/runtime.server";
import { safeRedirectTarget } from "~/utils/safe-redirect";

export const meta: MetaFunction = () => [{ title: "Check your inbox · Credits Studio" }];

// Where every sign-up lands, for a new address and a taken one alike (decision 018): the page
// says nothing about the address, so it cannot tell a stranger whether it is registered.
export async function loader({ request }: LoaderFunctionArgs) {
  const { config } = getRuntime();
  const redirectTo = safeRedirectTarget(new URL(request.url).searchParams.get("redirectTo"), config.appUrl);
  return json({ redirectTo, bonus: config.SIGNUP_BONUS_CREDITS }, { headers: { "Cache-Control": "no-store" } });
}

export default function CheckInbox() {
  const { redirectTo, bonus } = useLoaderData<typeof loader>();
  return (
    <div className="card max-w-xl space-y-4">
      <h1 className="text-2xl font-bold">Check your inbox</h1>
      <p className="text-slate-800">
        We sent an e-mail to the address you entered. Open the link in it and press the button to confirm the address
        {bonus > 0 ? ` and get your ${bonus} free credits` : ""}. The link works for 24 hours.
      </p>
      <p className="text-slate-800">You can log in and start using your account before confirming.</p>
      {/* Said to everyone, never only for a taken address: that would tell who is registered (decision 018).
          The one "Log in" button below serves both. */}
      <p className="text-slate-800" data-testid="already-have-account">
        Already have an account? Log in with it below.
      </p>
      <p>
        <Link className="btn-primary" to={{ pathname: "/login", search: redirectTo ? `?redirectTo=${encodeURIComponent(redirectTo)}` : "" }}>
          Log in
        </Link>
      </p>
      <p className="text-sm text-slate-700">No e-mail after a few minutes? Look in the spam folder, or log in and ask for a new one.</p>
    </div>
  );
}
