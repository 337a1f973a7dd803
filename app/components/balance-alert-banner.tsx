import { Link } from "@remix-run/react";

/** Shown on every page while the spendable balance is below the user's alert threshold. */
export function BalanceAlertBanner({ balance, thresholdCredits }: { balance: number; thresholdCredits: number }) {
  return (
    <section aria-label="Low balance" className="border-b border-amber-300 bg-amber-50" data-testid="balance-alert-banner">
      <div className="mx-auto flex max-w-5xl flex-wrap items-center gap-x-4 gap-y-2 px-4 py-2 text-sm text-amber-950">
        <p className="mr-auto">
          Your balance is {balance.toLocaleString("en-US")} credits, below your alert at {thresholdCredits.toLocaleString("en-US")}.
        </p>
        <Link to="/pricing" className="btn-primary py-1">
          Buy credits
        </Link>
      </div>
    </section>
  );
}
