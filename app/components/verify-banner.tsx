import { Form, useLocation } from "@remix-run/react";

/** Shown to a signed-in account whose address is not confirmed yet. A real form: works without JavaScript. */
export function VerifyEmailBanner({ bonus }: { bonus: number }) {
  const location = useLocation();
  return (
    <section aria-label="Confirm your e-mail address" className="border-b border-sky-200 bg-sky-50" data-testid="verify-banner">
      <div className="mx-auto flex max-w-5xl flex-wrap items-center gap-x-4 gap-y-2 px-4 py-2 text-sm text-sky-950">
        <p className="mr-auto">
          {bonus > 0 ? `Confirm your e-mail address to get your ${bonus} free credits.` : "Confirm your e-mail address."} We sent you a link.
        </p>
        <Form method="post" action="/verify-email/resend">
          <input type="hidden" name="redirectTo" value={`${location.pathname}${location.search}`} />
          <button type="submit" className="btn-secondary py-1">
            Resend the e-mail
          </button>
        </Form>
      </div>
    </section>
  );
}
