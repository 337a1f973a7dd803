import { createHash } from "node:crypto";
import type Stripe from "stripe";
import type { EmulatedAccount, RequestContext } from "./account.server";
import { StripeApiError, idempotencyError, invalidRequest, resourceMissing } from "./errors.server";
import { expandObject, type ExpandSources } from "./expand.server";
import { parseStripeForm, type FormObject } from "./form-encoding.server";
import { newId } from "./ids.server";
import { EMULATED_API_VERSION } from "./api-version.server";
import { billingRoutes } from "./billing-routes.server";
import { paginate } from "./lists.server";
import { paymentRoutes } from "./payment-routes.server";
import { buildList } from "./objects.server";
import {
  CheckoutSessionCreateParams,
  CheckoutSessionListParams,
  CustomerCreateParams,
  CustomerUpdateParams,
  EventListParams,
  ListParams,
  RefundCreateParams,
  RetrieveParams,
  parseParams,
} from "./params.server";
import { errorResult, header, jsonResult, matchPath, type HttpRequest, type HttpResult } from "./responses.server";
import type { EmulatorStore } from "./store.server";

/**
 * Stripe's `/v1` HTTP API as the stripe SDK calls it: Bearer authentication with a test-mode key,
 * form-encoded parameters, `Idempotency-Key` replay, `expand[]`, JSON answers and Stripe's error
 * shape.
 */

export type ApiCall = {
  params: FormObject;
  pathParams: Record<string, string>;
  context: RequestContext;
};

export type ApiRoute = {
  method: "GET" | "POST" | "DELETE";
  pattern: string;
  run: (call: ApiCall) => unknown;
};

const IDEMPOTENCY_KEY_MAX_LENGTH = 255;
const IDEMPOTENCY_KEY_TTL_MS = 24 * 60 * 60 * 1000;

export function createApiHandler(deps: { account: EmulatedAccount; store: EmulatorStore; now: () => number }) {
  const { account, store, now } = deps;

  const expandSources: ExpandSources = {
    findObject: (id) => account.findObject(id),
    virtualList(objectType, field, parentId) {
      if (objectType === "checkout.session" && field === "line_items") {
        return { url: `/v1/checkout/sessions/${parentId}/line_items`, data: account.listLineItems(parentId) };
      }
      if (objectType === "charge" && field === "refunds") {
        return { url: `/v1/charges/${parentId}/refunds`, data: account.listRefunds(parentId) };
      }
      if (objectType === "invoice" && field === "payments") {
        return { url: `/v1/invoice_payments?invoice=${parentId}`, data: account.listInvoicePayments({ invoice: parentId }) };
      }
      return undefined;
    },
  };

  const expand = <T>(object: T, params: { expand?: string[] }): T => expandObject(object, params.expand, expandSources);

  function retrieveRoute(pattern: string, read: (id: string) => unknown): ApiRoute {
    return {
      method: "GET",
      pattern,
      run: ({ params, pathParams }) => expand(read(pathParams.id), parseParams(RetrieveParams, params)),
    };
  }

  const routes: ApiRoute[] = [
    {
      method: "POST",
      pattern: "/v1/customers",
      run: ({ params, context }) => {
        const parsed = parseParams(CustomerCreateParams, params);
        return expand(account.createCustomer(parsed, context), parsed);
      },
    },
    retrieveRoute("/v1/customers/:id", (id) => account.retrieve("customer", id)),
    {
      method: "POST",
      pattern: "/v1/customers/:id",
      run: ({ params, pathParams, context }) => {
        const parsed = parseParams(CustomerUpdateParams, params);
        return expand(account.updateCustomer(pathParams.id, parsed, context), parsed);
      },
    },
    {
      method: "POST",
      pattern: "/v1/checkout/sessions",
      run: ({ params }) => {
        const parsed = parseParams(CheckoutSessionCreateParams, params);
        return expand(account.createCheckoutSession(parsed), parsed);
      },
    },
    {
      method: "GET",
      pattern: "/v1/checkout/sessions",
      run: ({ params }) => {
        const parsed = parseParams(CheckoutSessionListParams, params);
        // Newest first, as Stripe lists them.
        const sessions = store
          .listObjects("checkout.session")
          .map((stored) => account.getCheckoutSession(stored.id))
          .filter(
            (s) =>
              (!parsed.payment_intent || idOf(s.payment_intent) === parsed.payment_intent) &&
              (!parsed.customer || idOf(s.customer) === parsed.customer) &&
              (!parsed.status || s.status === parsed.status),
          )
          .reverse();
        return expand(paginate(sessions, parsed, "/v1/checkout/sessions"), parsed);
      },
    },
    retrieveRoute("/v1/checkout/sessions/:id", (id) => account.getCheckoutSession(id)),
    {
      method: "GET",
      pattern: "/v1/checkout/sessions/:id/line_items",
      run: ({ params, pathParams }) => {
        const parsed = parseParams(ListParams, params);
        const url = `/v1/checkout/sessions/${pathParams.id}/line_items`;
        return expand(paginate(account.listLineItems(pathParams.id), parsed, url), parsed);
      },
    },
    {
      method: "POST",
      pattern: "/v1/checkout/sessions/:id/expire",
      run: ({ params, pathParams, context }) => {
        const parsed = parseParams(RetrieveParams, params);
        return expand(account.expireCheckoutSession(pathParams.id, context), parsed);
      },
    },
    retrieveRoute("/v1/prices/:id", (id) => account.retrieve("price", id)),
    retrieveRoute("/v1/products/:id", (id) => account.retrieve("product", id)),
    retrieveRoute("/v1/payment_intents/:id", (id) => account.retrieve("payment_intent", id)),
    retrieveRoute("/v1/charges/:id", (id) => account.retrieve("charge", id)),
    {
      method: "GET",
      pattern: "/v1/charges/:id/refunds",
      run: ({ params, pathParams }) => {
        const parsed = parseParams(ListParams, params);
        account.retrieve("charge", pathParams.id);
        const url = `/v1/charges/${pathParams.id}/refunds`;
        return expand(paginate(account.listRefunds(pathParams.id).reverse(), parsed, url), parsed);
      },
    },
    {
      method: "POST",
      pattern: "/v1/refunds",
      run: ({ params, context }) => {
        const parsed = parseParams(RefundCreateParams, params);
        return expand(account.createRefund(parsed, context), parsed);
      },
    },
    retrieveRoute("/v1/refunds/:id", (id) => account.retrieve("refund", id)),
    retrieveRoute("/v1/disputes/:id", (id) => account.retrieve("dispute", id)),
    {
      method: "GET",
      pattern: "/v1/events/:id",
      run: ({ params, pathParams }) => {
        parseParams(RetrieveParams, params);
        const record = store.getEvent(pathParams.id);
        if (!record) throw resourceMissing("event", pathParams.id, { param: "id", status: 404 });
        return withPendingWebhooks(record.event, record.deliveryStatus === "pending" ? 1 : 0);
      },
    },
    {
      method: "GET",
      pattern: "/v1/events",
      run: ({ params }) => {
        const parsed = parseParams(EventListParams, params);
        const limit = parsed.limit ?? 10;
        const records = store.listEvents({ type: parsed.type, startingAfter: parsed.starting_after, limit: limit + 1 });
        const data = records
          .slice(0, limit)
          .map((record) => withPendingWebhooks(record.event, record.deliveryStatus === "pending" ? 1 : 0));
        return buildList("/v1/events", data, records.length > limit);
      },
    },
    ...billingRoutes({ account, expand, retrieveRoute }),
    ...paymentRoutes({ account, expand, retrieveRoute }),
  ];

  function authenticate(request: HttpRequest): string {
    const authorization = header(request.headers, "authorization");
    let key: string | undefined;
    if (authorization) {
      const [scheme, value = ""] = authorization.split(" ", 2);
      if (/^bearer$/i.test(scheme)) key = value.trim();
      else if (/^basic$/i.test(scheme)) key = Buffer.from(value, "base64").toString("utf8").split(":")[0];
    }
    if (!key) {
      throw new StripeApiError(401, {
        type: "invalid_request_error",
        message:
          "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, or we can help at https://support.stripe.com/.",
      });
    }
    if (!/^(sk|rk)_test_\S+$/.test(key)) {
      throw new StripeApiError(401, {
        type: "invalid_request_error",
        message: `Invalid API Key provided: ${redactKey(key)}. The Stripe emulator accepts only test-mode secret keys (sk_test_...).`,
      });
    }
    return key;
  }

  function handle(request: HttpRequest): HttpResult {
    const requestId = newId.request();
    const stripeVersion = header(request.headers, "stripe-version") ?? EMULATED_API_VERSION;
    const idempotencyKey = request.method === "POST" ? (header(request.headers, "idempotency-key") ?? null) : null;
    const baseHeaders: Record<string, string> = {
      "Request-Id": requestId,
      "Stripe-Version": stripeVersion,
      ...(idempotencyKey ? { "Idempotency-Key": idempotencyKey } : {}),
    };

    try {
      const apiKey = authenticate(request);
      const route = findRoute(request.method, request.path);
      if (!route) {
        throw invalidRequest(
          `Unrecognized request URL (${request.method}: ${request.path}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.`,
          { status: 404 },
        );
      }
      const contentType = header(request.headers, "content-type") ?? "";
      if (request.method === "POST" && request.body && contentType.includes("json")) {
        throw invalidRequest(
          "Invalid request: the Stripe API expects parameters form-encoded (application/x-www-form-urlencoded), not JSON.",
        );
      }
      const params = { ...parseStripeForm(request.query), ...parseStripeForm(request.method === "POST" ? request.body : "") };

      if (!idempotencyKey) {
        return jsonResult(200, route.route.run({ params, pathParams: route.pathParams, context: { requestId, idempotencyKey } }), baseHeaders);
      }

      if (idempotencyKey.length > IDEMPOTENCY_KEY_MAX_LENGTH) {
        throw invalidRequest(`Idempotency keys can be at most ${IDEMPOTENCY_KEY_MAX_LENGTH} characters long.`, {
          param: "Idempotency-Key",
        });
      }
      const scope = accountOf(apiKey);
      const paramsHash = hashParams(params);
      store.pruneStoredResponses(now() - IDEMPOTENCY_KEY_TTL_MS);
      const stored = store.getStoredResponse(scope, idempotencyKey);
      if (stored) {
        if (stored.method !== request.method || stored.path !== request.path) {
          throw idempotencyError(
            `Keys for idempotent requests can only be used for the same endpoint they were first used for ('${stored.method} ${stored.path}' vs '${request.method} ${request.path}'). Try using a key other than '${idempotencyKey}' if you meant to execute a different request.`,
          );
        }
        if (stored.paramsHash !== paramsHash) {
          throw idempotencyError(
            `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${idempotencyKey}' if you meant to execute a different request.`,
          );
        }
        return {
          status: stored.status,
          headers: { ...jsonResult(stored.status, null).headers, ...baseHeaders, "Idempotent-Replayed": "true" },
          body: stored.body,
        };
      }
      let result: HttpResult;
      try {
        result = jsonResult(
          200,
          route.route.run({ params, pathParams: route.pathParams, context: { requestId, idempotencyKey } }),
          baseHeaders,
        );
      } catch (error) {
        // A request refused before it ran changed nothing, so running it again gives the same
        // answer anyway; one that ran and then failed (a declined payment) is kept like a success.
        if (!(error instanceof StripeApiError) || !error.executed) throw error;
        result = errorResult(error, baseHeaders);
      }
      store.putStoredResponse(
        scope,
        idempotencyKey,
        { method: request.method, path: request.path, paramsHash, status: result.status, body: result.body },
        now(),
      );
      return result;
    } catch (error) {
      if (error instanceof StripeApiError) return errorResult(error, baseHeaders);
      throw error;
    }
  }

  function findRoute(method: string, path: string) {
    for (const route of routes) {
      if (route.method !== method) continue;
      const pathParams = matchPath(route.pattern, path);
      if (pathParams) return { route, pathParams };
    }
    return null;
  }

  return { handle };
}

function withPendingWebhooks(event: Stripe.Event, pending: number): Stripe.Event {
  return { ...event, pending_webhooks: pending };
}

function redactKey(key: string): string {
  return key.length <= 12 ? "****" : `${key.slice(0, 8)}****${key.slice(-4)}`;
}

/** Idempotency keys are scoped to the account, i.e. to the API key. */
function accountOf(apiKey: string): string {
  return createHash("sha256").update(apiKey).digest("hex").slice(0, 16);
}

function hashParams(params: FormObject): string {
  return createHash("sha256").update(canonicalJson(params)).digest("hex");
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value && typeof value === "object") {
    const entries = Object.keys(value)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`);
    return `{${entries.join(",")}}`;
  }
  return JSON.stringify(value);
}

function idOf(value: string | { id: string } | null): string | null {
  return value === null ? null : typeof value === "string" ? value : value.id;
}
