import { z } from "zod";
import { CUSTOMER_ACTION, type EmulatedAccount } from "./account.server";
import { StripeApiError, invalidRequest, resourceMissing } from "./errors.server";
import { parseStripeForm } from "./form-encoding.server";
import { AdvanceInput } from "./billing-params.server";
import { DisputeCloseInput, DisputeCreateInput, PayInput, UnrelatedPaymentInput, parseParams } from "./params.server";
import { findTestCard } from "./test-cards.server";
import { errorResult, header, jsonResult, matchPath, type HttpRequest, type HttpResult } from "./responses.server";
import type { EmulatorStore } from "./store.server";
import type { WebhookDispatcher } from "./webhooks.server";

/**
 * Test driver endpoints under `/__emulator/` (JSON in, JSON out): things that happen outside the
 * merchant's API calls in real life (a customer paying, a bank opening a dispute) and a view of
 * the webhook deliveries. No authentication, so it is served on the loopback listener only
 * (http-server.server.ts). Inputs and answers: stripe-emulator/README.md, "Test driver".
 *
 *   GET  /__emulator/health
 *   POST /__emulator/checkout/sessions/:id/pay     {"outcome":"paid"|"delayed_success"|"delayed_failure"|"no_payment_required","card"?}
 *   POST /__emulator/checkout/sessions/:id/expire  expire an open session now, as its time running out would
 *   POST /__emulator/async-payments/settle          settle every delayed payment now
 *   POST /__emulator/unrelated-payments             {"amount"?,"currency"?,"customer"?|"email"?,"description"?}
 *   POST /__emulator/charges/:id/disputes           {"amount"?:int,"reason"?:string,"inquiry"?:boolean}
 *   POST /__emulator/disputes/:id/close             {"status"?:"won"|"lost"} (none for an inquiry)
 *   POST /__emulator/subscriptions/:id/advance     {"outcome"?:"paid"|"payment_failed"} the next period (a test clock)
 *   GET  /__emulator/events?type=&limit=            events, newest first, with their delivery state
 *   POST /__emulator/events/:id/resend              deliver an event again
 *   GET  /__emulator/deliveries?event_id=           every delivery attempt, oldest first
 */

const EventQuery = z
  .object({
    type: z.string().optional(),
    limit: z
      .string()
      .regex(/^\d+$/)
      .transform(Number)
      .pipe(z.number().int().min(1).max(1000))
      .optional(),
  })
  .strict();
const DeliveryQuery = z.object({ event_id: z.string().optional() }).strict();
const EmptyInput = z.object({}).strict();

type DriverRoute = {
  method: "GET" | "POST";
  pattern: string;
  run: (input: unknown, pathParams: Record<string, string>) => unknown;
};

export function createDriverHandler(deps: {
  account: EmulatedAccount;
  store: EmulatorStore;
  dispatcher: WebhookDispatcher;
}) {
  const { account, store, dispatcher } = deps;

  const routes: DriverRoute[] = [
    { method: "GET", pattern: "/__emulator/health", run: () => ({ ok: true }) },
    {
      method: "POST",
      pattern: "/__emulator/checkout/sessions/:id/pay",
      run: (input, { id }) => {
        const { outcome, card } = parseParams(PayInput, input);
        const result = account.completeCheckoutSession(id, outcome, card ? findTestCard(card) : undefined);
        if (result.decline) {
          // As the hosted page shows it: the bank said no, the session stays open for another card.
          throw new StripeApiError(402, {
            type: "card_error",
            code: result.decline.code,
            decline_code: result.decline.declineCode,
            message: result.decline.message,
            param: "card",
          });
        }
        if (!result.completed) {
          throw invalidRequest(
            `Checkout Session ${id} is not open (status: ${result.session.status}); it cannot be paid again.`,
            { code: "checkout_session_not_open", status: 409 },
          );
        }
        return result.session;
      },
    },
    {
      method: "POST",
      pattern: "/__emulator/checkout/sessions/:id/expire",
      run: (input, { id }) => {
        parseParams(EmptyInput, input);
        // Stripe's own expiry: no request caused it, so its event's `request` is null.
        return account.expireCheckoutSession(id, CUSTOMER_ACTION);
      },
    },
    {
      method: "POST",
      pattern: "/__emulator/async-payments/settle",
      run: () => ({ settled: account.settleAllAsyncPayments() }),
    },
    {
      method: "POST",
      pattern: "/__emulator/unrelated-payments",
      run: (input) => account.createUnrelatedPayment(parseParams(UnrelatedPaymentInput, input)),
    },
    {
      method: "POST",
      pattern: "/__emulator/charges/:id/disputes",
      run: (input, { id }) => account.createDispute(id, parseParams(DisputeCreateInput, input)),
    },
    {
      method: "POST",
      pattern: "/__emulator/disputes/:id/close",
      run: (input, { id }) => account.closeDispute(id, parseParams(DisputeCloseInput, input)),
    },
    {
      method: "POST",
      pattern: "/__emulator/subscriptions/:id/advance",
      run: (input, { id }) => account.advanceSubscription(id, parseParams(AdvanceInput, input).outcome),
    },
    {
      method: "GET",
      pattern: "/__emulator/events",
      run: (input) => {
        const query = parseParams(EventQuery, input);
        const data = store.listEvents({ type: query.type, limit: query.limit ?? 100 }).map((record) => ({
          event: record.event,
          delivery: {
            status: record.deliveryStatus,
            attempts: record.attempts,
            nextAttemptAt: record.nextAttemptAt,
          },
        }));
        return { data };
      },
    },
    {
      method: "POST",
      pattern: "/__emulator/events/:id/resend",
      run: (_input, { id }) => {
        if (!store.getEvent(id)) throw resourceMissing("event", id, { param: "id", status: 404 });
        if (!dispatcher.resend(id)) throw invalidRequest("No webhook URL is configured; nothing to resend to.");
        return { resent: id };
      },
    },
    {
      method: "GET",
      pattern: "/__emulator/deliveries",
      run: (input) => ({ data: store.listAttempts(parseParams(DeliveryQuery, input).event_id) }),
    },
  ];

  function handle(request: HttpRequest): HttpResult {
    try {
      for (const route of routes) {
        if (route.method !== request.method) continue;
        const pathParams = matchPath(route.pattern, request.path);
        if (!pathParams) continue;
        const input = request.method === "GET" ? Object.fromEntries(new URLSearchParams(request.query)) : readBody(request);
        return jsonResult(200, route.run(input, pathParams));
      }
      throw invalidRequest(`Unrecognized emulator URL (${request.method}: ${request.path}).`, { status: 404 });
    } catch (error) {
      if (error instanceof StripeApiError) return errorResult(error);
      throw error;
    }
  }

  return { handle };
}

function readBody(request: HttpRequest): unknown {
  if (!request.body.trim()) return {};
  const contentType = header(request.headers, "content-type") ?? "";
  if (contentType.includes("json")) {
    try {
      return JSON.parse(request.body) as unknown;
    } catch {
      throw invalidRequest("The request body is not valid JSON.");
    }
  }
  return parseStripeForm(request.body);
}
