import { Form, useNavigation } from "@remix-run/react";

// The forms that start a Stripe Checkout, shared by the billing and pricing pages. reloadDocument:
// the action answers with a redirect to another origin (Stripe's hosted page), which a fetch
// cannot follow; a plain POST works the same with and without JavaScript. `token` is one per page
// view, so a double-submitted form reuses the same Checkout Session.

const CHECKOUT_ACTION = "/api/stripe/checkout";

function useCheckoutBusy() {
  const navigation = useNavigation();
  return navigation.state !== "idle" && navigation.formAction === CHECKOUT_ACTION;
}

/** "Buy credits" for one pack; its accessible name ("Buy <pack>") tells the buttons apart. */
export function PackCheckoutForm({
  pack,
  token,
  disabled = false,
  offerSaveCard = false,
}: {
  pack: { id: string; name: string };
  token: string;
  disabled?: boolean;
  /** A "save my card" checkbox (savePaymentMethod=on): Checkout keeps the card for auto-recharge. */
  offerSaveCard?: boolean;
}) {
  const busy = useCheckoutBusy();
  return (
    <Form method="post" action={CHECKOUT_ACTION} reloadDocument className="flex flex-col items-end gap-1">
      <input type="hidden" name="pack" value={pack.id} />
      <input type="hidden" name="token" value={token} />
      {offerSaveCard ? (
        <label className="flex items-center gap-1 text-sm text-slate-700">
          <input type="checkbox" name="savePaymentMethod" value="on" />
          Save my card for auto-recharge<span className="sr-only"> ({pack.name})</span>
        </label>
      ) : null}
      <button type="submit" className="btn-primary" disabled={busy || disabled} aria-label={`Buy ${pack.name}`}>
        Buy credits
      </button>
    </Form>
  );
}

/** "Subscribe" to one plan (a subscription-mode Checkout); named "Subscribe to <plan>". */
export function PlanCheckoutForm({ plan, token, disabled = false }: { plan: { id: string; name: string }; token: string; disabled?: boolean }) {
  const busy = useCheckoutBusy();
  return (
    <Form method="post" action={CHECKOUT_ACTION} reloadDocument>
      <input type="hidden" name="plan" value={plan.id} />
      <input type="hidden" name="token" value={token} />
      <button type="submit" className="btn-primary" disabled={busy || disabled} aria-label={`Subscribe to ${plan.name}`}>
        Subscribe
      </button>
    </Form>
  );
}
