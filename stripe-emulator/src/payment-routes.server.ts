import type { EmulatedAccount } from "./account.server";
import type { ApiRoute } from "./api-routes.server";
import { invalidRequest } from "./errors.server";
import { paginate } from "./lists.server";
import { RetrieveParams, parseParams } from "./params.server";
import {
  CustomerPaymentMethodListParams,
  PaymentIntentCreateParams,
  PaymentIntentListParams,
  PaymentMethodListParams,
} from "./payment-params.server";

/**
 * The `/v1` routes of saved cards: PaymentMethods (list, read, detach), SetupIntents (read) and
 * PaymentIntents (create off-session, list). Lists are newest first, as Stripe lists them.
 */
export function paymentRoutes(deps: {
  account: EmulatedAccount;
  expand: <T>(object: T, params: { expand?: string[] }) => T;
  retrieveRoute: (pattern: string, read: (id: string) => unknown) => ApiRoute;
}): ApiRoute[] {
  const { account, expand, retrieveRoute } = deps;

  /** A customer's saved PaymentMethods; the emulator saves cards only, so another `type` lists none. */
  const savedCards = (customer: string, type: string | undefined) =>
    account.listPaymentMethods(customer).filter((paymentMethod) => !type || paymentMethod.type === type).reverse();

  return [
    {
      method: "GET",
      pattern: "/v1/payment_methods",
      run: ({ params }) => {
        const parsed = parseParams(PaymentMethodListParams, params);
        if (!parsed.customer) {
          throw invalidRequest("The Stripe emulator lists the PaymentMethods of one customer: pass `customer`.", {
            param: "customer",
            code: "parameter_missing",
          });
        }
        return expand(paginate(savedCards(parsed.customer, parsed.type), parsed, "/v1/payment_methods"), parsed);
      },
    },
    retrieveRoute("/v1/payment_methods/:id", (id) => account.retrieve("payment_method", id)),
    {
      method: "POST",
      pattern: "/v1/payment_methods/:id/detach",
      run: ({ params, pathParams, context }) => {
        const parsed = parseParams(RetrieveParams, params);
        return expand(account.detachPaymentMethod(pathParams.id, context), parsed);
      },
    },
    {
      method: "GET",
      pattern: "/v1/customers/:id/payment_methods",
      run: ({ params, pathParams }) => {
        const parsed = parseParams(CustomerPaymentMethodListParams, params);
        account.retrieve("customer", pathParams.id);
        const url = `/v1/customers/${pathParams.id}/payment_methods`;
        return expand(paginate(savedCards(pathParams.id, parsed.type), parsed, url), parsed);
      },
    },
    {
      method: "GET",
      pattern: "/v1/customers/:customer/payment_methods/:id",
      run: ({ params, pathParams }) =>
        expand(account.retrieveCustomerPaymentMethod(pathParams.customer, pathParams.id), parseParams(RetrieveParams, params)),
    },
    retrieveRoute("/v1/setup_intents/:id", (id) => account.retrieve("setup_intent", id)),
    {
      method: "POST",
      pattern: "/v1/payment_intents",
      run: ({ params, context }) => {
        const parsed = parseParams(PaymentIntentCreateParams, params);
        return expand(account.createPaymentIntent(parsed, context), parsed);
      },
    },
    {
      method: "GET",
      pattern: "/v1/payment_intents",
      run: ({ params }) => {
        const parsed = parseParams(PaymentIntentListParams, params);
        return expand(paginate(account.listPaymentIntents(parsed.customer).reverse(), parsed, "/v1/payment_intents"), parsed);
      },
    },
  ];
}
