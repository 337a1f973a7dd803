import type { EmulatedAccount } from "./account.server";
import type { ApiRoute } from "./api-routes.server";
import {
  InvoiceListParams,
  InvoicePaymentListParams,
  PortalSessionCreateParams,
  SubscriptionListParams,
  SubscriptionUpdateParams,
} from "./billing-params.server";
import { paginate } from "./lists.server";
import { ListParams, RetrieveParams, parseParams } from "./params.server";

/**
 * Billing's `/v1` routes: subscriptions (read, change, cancel), invoices and their payments
 * (read), Customer Portal sessions (create). Lists are newest first, as Stripe lists them.
 */
export function billingRoutes(deps: {
  account: EmulatedAccount;
  expand: <T>(object: T, params: { expand?: string[] }) => T;
  retrieveRoute: (pattern: string, read: (id: string) => unknown) => ApiRoute;
}): ApiRoute[] {
  const { account, expand, retrieveRoute } = deps;
  return [
    {
      method: "GET",
      pattern: "/v1/subscriptions",
      run: ({ params }) => {
        const parsed = parseParams(SubscriptionListParams, params);
        return expand(paginate(account.listSubscriptions(parsed).reverse(), parsed, "/v1/subscriptions"), parsed);
      },
    },
    retrieveRoute("/v1/subscriptions/:id", (id) => account.retrieve("subscription", id)),
    {
      method: "POST",
      pattern: "/v1/subscriptions/:id",
      run: ({ params, pathParams, context }) => {
        const parsed = parseParams(SubscriptionUpdateParams, params);
        return expand(account.updateSubscription(pathParams.id, parsed, context), parsed);
      },
    },
    {
      method: "DELETE",
      pattern: "/v1/subscriptions/:id",
      run: ({ params, pathParams, context }) => {
        const parsed = parseParams(RetrieveParams, params);
        return expand(account.cancelSubscription(pathParams.id, context), parsed);
      },
    },
    {
      method: "GET",
      pattern: "/v1/invoices",
      run: ({ params }) => {
        const parsed = parseParams(InvoiceListParams, params);
        return expand(paginate(account.listInvoices(parsed).reverse(), parsed, "/v1/invoices"), parsed);
      },
    },
    retrieveRoute("/v1/invoices/:id", (id) => account.retrieve("invoice", id)),
    {
      method: "GET",
      pattern: "/v1/invoices/:id/lines",
      run: ({ params, pathParams }) => {
        const parsed = parseParams(ListParams, params);
        const invoice = account.retrieve("invoice", pathParams.id);
        return expand(paginate(invoice.lines.data, parsed, `/v1/invoices/${invoice.id}/lines`), parsed);
      },
    },
    {
      method: "GET",
      pattern: "/v1/invoice_payments",
      run: ({ params }) => {
        const parsed = parseParams(InvoicePaymentListParams, params);
        const payments = account.listInvoicePayments({
          invoice: parsed.invoice,
          paymentIntent: parsed.payment?.payment_intent,
        });
        return expand(paginate(payments.reverse(), parsed, "/v1/invoice_payments"), parsed);
      },
    },
    retrieveRoute("/v1/invoice_payments/:id", (id) => account.retrieve("invoice_payment", id)),
    {
      method: "POST",
      pattern: "/v1/billing_portal/sessions",
      run: ({ params, context }) => {
        const parsed = parseParams(PortalSessionCreateParams, params);
        return expand(account.createPortalSession(parsed, context), parsed);
      },
    },
  ];
}
