import type { HeadersFunction, LoaderFunctionArgs, MetaFunction } from "@remix-run/node";
import { json } from "@remix-run/node";
import { Link, useLoaderData } from "@remix-run/react";
import { z } from "zod";
import { formatUtc } from "~/components/history-table";
import { requireUser } from "~/services/auth.server";
import { getPaymentReceipt } from "~/services/billing-dashboard.server";
import { getRuntime } from "~/services/runtime.server";
import { formatMoney } from "~/utils/format";

const ParamsSchema = z.object({ id: z.string().regex(/^[1-9][0-9]{0,15}$/).transform(Number).pipe(z.number().int().max(Number.MAX_SAFE_INTEGER)) });

const KIND: Record<"purchase" | "topup" | "plan", string> = {
  purchase: "Credit pack",
  topup: "Auto-recharge top-up",
  plan: "Plan period",
};

// A receipt names the buyer and the payment: never kept by a shared cache.
export const headers: HeadersFunction = ({ loaderHeaders }) => loaderHeaders;

export const meta: MetaFunction<typeof loader> = ({ data }) => [
  { title: data ? `Receipt ${data.receipt.receiptNumber} · Credits Studio` : "Receipt · Credits Studio" },
];

// GET /settings/billing/payments/:id — the app's own receipt of one of the user's payments, a page
// to print or keep. Someone else's payment, a row that is no payment and a malformed id all answer
// the same 404, so ids reveal nothing about other accounts.
export async function loader({ request, params }: LoaderFunctionArgs) {
  const user = await requireUser(request);
  const parsed = ParamsSchema.safeParse(params);
  if (!parsed.success) throw new Response("No such payment.", { status: 404 });
  const receipt = await getPaymentReceipt(getRuntime().db, { userId: user.id, transactionId: parsed.data.id });
  if (!receipt) throw new Response("No such payment.", { status: 404 });
  return json(
    {
      receipt,
      price: receipt.amountTotal !== null && receipt.currency ? formatMoney(receipt.amountTotal, receipt.currency) : null,
      email: user.email,
    },
    { headers: { "Cache-Control": "private, no-store" } },
  );
}

// Printing keeps the receipt only: the app's header, navigation and toasts belong to the screen.
const PRINT_CSS = `@media print { body > header, body nav, [data-testid="toast"] { display: none !important; } body { background: #fff !important; } }`;

export default function PaymentReceiptPage() {
  const { receipt, price, email } = useLoaderData<typeof loader>();
  return (
    <div className="mx-auto max-w-xl space-y-4">
      <style>{PRINT_CSS}</style>
      <p className="print:hidden">
        <Link to="/settings/billing" className="text-sm text-indigo-700 underline">
          ← Back to billing
        </Link>
      </p>
      <article className="card print:border-0 print:shadow-none" aria-labelledby="receipt-heading" data-testid="payment-receipt">
        <h1 id="receipt-heading" className="text-2xl font-bold">
          Receipt
        </h1>
        <dl className="mt-4 grid grid-cols-[auto,1fr] gap-x-6 gap-y-2 text-sm">
          <dt className="font-medium text-slate-700">Merchant</dt>
          <dd data-testid="receipt-merchant">Credits Studio</dd>
          <dt className="font-medium text-slate-700">Billed to</dt>
          <dd className="break-all">{email}</dd>
          <dt className="font-medium text-slate-700">Receipt number</dt>
          <dd data-testid="receipt-number">{receipt.receiptNumber}</dd>
          <dt className="font-medium text-slate-700">Date</dt>
          <dd>
            <time dateTime={new Date(receipt.createdAt).toISOString()}>{formatUtc(receipt.createdAt)}</time>
          </dd>
          <dt className="font-medium text-slate-700">Item</dt>
          <dd data-testid="receipt-item">
            {receipt.description}
            <span className="block text-slate-700">
              {KIND[receipt.type]} · {receipt.credits} credits
            </span>
          </dd>
          <dt className="font-medium text-slate-700">Amount paid</dt>
          <dd className="font-semibold" data-testid="receipt-amount">
            {price ?? "not reported by the payment provider"}
          </dd>
          <dt className="font-medium text-slate-700">Payment id</dt>
          <dd className="break-all font-mono text-xs" data-testid="receipt-payment-id">
            {receipt.stripePaymentId}
          </dd>
        </dl>
      </article>
      <div className="flex flex-wrap gap-3 print:hidden">
        {/* The card processor's receipt lives on its own site: a new tab, so the app stays open. */}
        <a className="btn-secondary" href={`/settings/billing/receipt/${receipt.id}`} target="_blank" rel="noopener noreferrer">
          Card receipt from Stripe<span className="sr-only"> (opens in a new tab)</span>
        </a>
      </div>
    </div>
  );
}
