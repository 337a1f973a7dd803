import type { ActionFunctionArgs, HeadersFunction, LoaderFunctionArgs, MetaFunction } from "@remix-run/node";
import { json } from "@remix-run/node";
import { Form, Link, useActionData, useLoaderData } from "@remix-run/react";
import { checkVerificationLink, confirmEmail, resendVerificationForLink, type LinkState } from "~/services/accounts/verification.server";
import { getResendLimiter } from "~/services/accounts/verification-limits.server";
import { retryAfterHeaders } from "~/services/auth-rate-limit.server";
import { getUserId } from "~/services/auth.server";
import { getRuntime } from "~/services/runtime.server";
import { redirectWithToast } from "~/services/toast.server";

export const meta: MetaFunction = () => [{ title: "Confirm your e-mail address · Credits Studio" }];

// The token is in the URL: it must not leak to other sites through Referer, nor sit in a cache.
// same-origin, not no-referrer: with no-referrer the browser sends "Origin: null" on the form
// post, which the Origin check (rightly) refuses.
const PRIVATE = { "Cache-Control": "no-store", "Referrer-Policy": "same-origin" };
export const headers: HeadersFunction = ({ actionHeaders, loaderHeaders }) => {
  const h = new Headers(PRIVATE);
  const retryAfter = actionHeaders.get("Retry-After") ?? loaderHeaders.get("Retry-After");
  if (retryAfter) h.set("Retry-After", retryAfter);
  return h;
};

function tokenOf(value: FormDataEntryValue | string | null): string {
  // Anything that is not a plausible token is refused by the service; only keep the page small.
  return typeof value === "string" ? value.slice(0, 200) : "";
}

/** GET shows the button only: opening the link (a mail scanner does) changes nothing. */
export async function loader({ request }: LoaderFunctionArgs) {
  const token = tokenOf(new URL(request.url).searchParams.get("token"));
  const state = await checkVerificationLink(getRuntime().db, token);
  return json({ token: state.ok || state.canResend ? token : "", state }, { headers: PRIVATE });
}

type ActionData =
  | { kind: "confirmed"; bonus: number; loggedIn: boolean }
  | { kind: "refused"; state: Extract<LinkState, { ok: false }>; token: string }
  | { kind: "resent" }
  | { kind: "resend_refused"; message: string };

export async function action({ request, context }: ActionFunctionArgs) {
  const { db, config } = getRuntime();
  const form = await request.formData();
  const token = tokenOf(form.get("token"));
  if (form.get("intent") === "resend") {
    const result = await resendVerificationForLink({ db, config, limiter: getResendLimiter(config) }, { token, ip: context.clientIp ?? "unknown" });
    if (result.ok) return json<ActionData>({ kind: "resent" }, { headers: PRIVATE });
    const status = result.reason === "rate_limited" ? 429 : 400;
    return json<ActionData>({ kind: "resend_refused", message: result.message }, { status, headers: result.reason === "rate_limited" ? retryAfterHeaders(result) : PRIVATE });
  }
  const result = await confirmEmail(db, config, token);
  if (!result.ok) return json<ActionData>({ kind: "refused", state: result, token: result.canResend ? token : "" }, { status: 400, headers: PRIVATE });
  const bonus = result.bonusGranted;
  if ((await getUserId(request)) === result.userId) {
    return redirectWithToast(request, "/generate", {
      kind: "success",
      title: "Welcome!",
      description: bonus > 0 ? `Your address is confirmed and ${bonus} free credits were added.` : "Your address is confirmed.",
    });
  }
  return json<ActionData>({ kind: "confirmed", bonus, loggedIn: (await getUserId(request)) !== null }, { headers: PRIVATE });
}

const REFUSED_TEXT: Record<"invalid" | "used" | "expired", string> = {
  invalid: "This confirmation link is not valid. It may be incomplete, or a newer link may have been sent since.",
  used: "This confirmation link was already used.",
  expired: "This confirmation link has expired (links work for 24 hours).",
};

function Refused({ state, token }: { state: Extract<LinkState, { ok: false }>; token: string }) {
  return (
    <div className="space-y-4">
      <h1 className="text-2xl font-bold">This link cannot be used</h1>
      <p role="alert" className="rounded-md bg-amber-50 p-3 text-amber-950 ring-1 ring-amber-300">
        {REFUSED_TEXT[state.reason]} {state.alreadyVerified ? "Your address is already confirmed: there is nothing left to do." : ""}
      </p>
      {state.canResend ? (
        <Form method="post" action="/verify-email" className="space-y-2">
          <input type="hidden" name="token" value={token} />
          <input type="hidden" name="intent" value="resend" />
          <button type="submit" className="btn-primary">Send me a new link</button>
        </Form>
      ) : !state.alreadyVerified ? (
        <p className="text-slate-800">Log in to ask for a new link: the banner at the top of the page has a button for it.</p>
      ) : null}
      <p>
        <Link to="/login" className="text-indigo-700 underline">Log in</Link>
      </p>
    </div>
  );
}

export default function VerifyEmail() {
  const { token, state } = useLoaderData<typeof loader>();
  const data = useActionData<typeof action>() as ActionData | undefined;
  if (data?.kind === "confirmed") {
    return (
      <div className="card max-w-xl space-y-4">
        <h1 className="text-2xl font-bold">Address confirmed</h1>
        <p role="status">{data.bonus > 0 ? `Thank you. ${data.bonus} free credits were added to your account.` : "Thank you, your address is confirmed."}</p>
        <p><Link to={data.loggedIn ? "/generate" : "/login"} className="btn-primary">{data.loggedIn ? "Continue" : "Log in"}</Link></p>
      </div>
    );
  }
  if (data?.kind === "refused") return <Refused state={data.state} token={data.token} />;
  if (data?.kind === "resent" || data?.kind === "resend_refused") {
    return (
      <div className="card max-w-xl space-y-4">
        <h1 className="text-2xl font-bold">{data.kind === "resent" ? "Check your inbox" : "No new link sent"}</h1>
        <p role={data.kind === "resent" ? "status" : "alert"}>
          {data.kind === "resent" ? "We sent a new confirmation link. It works for 24 hours." : data.message}
        </p>
      </div>
    );
  }
  if (!state.ok) return <Refused state={state} token={token} />;
  return (
    <div className="card max-w-xl space-y-4">
      <h1 className="text-2xl font-bold">Confirm your e-mail address</h1>
      <p className="text-slate-800">Press the button to confirm that this address is yours.</p>
      <Form method="post" action="/verify-email">
        <input type="hidden" name="token" value={token} />
        <button type="submit" className="btn-primary">Confirm my address</button>
      </Form>
    </div>
  );
}
