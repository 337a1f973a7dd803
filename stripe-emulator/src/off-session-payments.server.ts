import type Stripe from "stripe";
import { idOf, type AccountCore, type RequestContext } from "./account-core.server";
import { cardError, invalidRequest, type StripeApiError } from "./errors.server";
import type { PaymentIntentCreateParams } from "./payment-params.server";
import type { PaymentMethods } from "./payment-methods.server";
import { recordPayment } from "./payments.server";
import { offSessionDecline, type CardDecline } from "./test-cards.server";

/**
 * `POST /v1/payment_intents` for what an app does with a saved card: charge it while the customer
 * is away (`confirm=true`, `off_session=true`). The card decides the outcome (test-cards.server.ts):
 *
 *   succeeds               200, `succeeded`; payment_intent.created, charge.succeeded, payment_intent.succeeded
 *   needs authentication   402 card_error `authentication_required`; the issuer's soft decline leaves a
 *                          failed charge and the PaymentIntent in `requires_payment_method` (off-session,
 *                          Stripe never stops at `requires_action`: nobody is there to authenticate);
 *                          payment_intent.created, charge.failed, payment_intent.payment_failed
 *   declined               402 card_error `card_declined` with its `decline_code`; the same three events
 *
 * A refused payment still made its PaymentIntent: the 402 names it (`error.payment_intent`), and
 * the answer is kept for the request's idempotency key like a success.
 */

const RETURN_URL_REQUIRED =
  "A `return_url` must be specified because this Payment Intent is configured to automatically accept the payment methods enabled in the Dashboard, some of which may require a full page redirect to succeed. If you do not want to accept redirect-based payment methods, set `automatic_payment_methods[enabled]` to `true` and `automatic_payment_methods[allow_redirects]` to `never` when creating Setup Intents and Payment Intents.";

export function createOffSessionPayments(core: AccountCore, paymentMethods: PaymentMethods) {
  const { store, emit, lookup } = core;

  /** Stripe's rules for a create that confirms at once, and the emulator's: off-session cards only. */
  function checkParams(params: PaymentIntentCreateParams): Stripe.PaymentIntent.AutomaticPaymentMethods | null {
    const allowed = params.allowed_payment_method_types;
    if (allowed && !allowed.includes("card")) {
      throw invalidRequest("The Stripe emulator's PaymentIntents take card payments only: allowed_payment_method_types must include card.", {
        param: "allowed_payment_method_types",
      });
    }
    const offSession = params.off_session !== undefined && params.off_session !== false;
    if (params.confirm !== true || !offSession) {
      throw invalidRequest(
        "The Stripe emulator creates PaymentIntents only to charge a saved card while the customer is away: pass confirm=true and off_session=true (a payment with the customer present goes through Checkout).",
        { param: params.confirm !== true ? "confirm" : "off_session" },
      );
    }
    if (params.setup_future_usage) {
      throw invalidRequest(
        "You cannot confirm with the `off_session` parameter when `setup_future_usage` is also set on the PaymentIntent, because you cannot set up future usage when processing payments off-session.",
        { param: "setup_future_usage" },
      );
    }
    if (!params.payment_method) {
      throw invalidRequest(
        "You cannot confirm this PaymentIntent because it's missing a payment method. To confirm the PaymentIntent with a saved card, pass its id in `payment_method`.",
        { param: "payment_method", code: "payment_intent_unexpected_state" },
      );
    }
    // A PaymentIntent accepts the Dashboard's methods unless told otherwise, some of which
    // redirect: confirming one needs somewhere to come back to, unless redirects are ruled out
    // (`allow_redirects=never`) or the allowed methods are cards only (the emulator's reading of
    // the `allowed_payment_method_types` filter: a card never redirects off-session).
    const automatic = {
      enabled: params.automatic_payment_methods?.enabled ?? true,
      allow_redirects: params.automatic_payment_methods?.allow_redirects ?? "always",
    };
    if (!automatic.enabled) return null;
    const cardsOnly = allowed !== undefined && allowed.every((type) => type === "card");
    if (automatic.allow_redirects !== "never" && !cardsOnly && !params.return_url) {
      throw invalidRequest(RETURN_URL_REQUIRED, { param: "return_url" });
    }
    return automatic;
  }

  function createPaymentIntent(params: PaymentIntentCreateParams, context: RequestContext): Stripe.PaymentIntent {
    const automatic = checkParams(params);
    const outcome = store.transaction((): { paymentIntent: Stripe.PaymentIntent; error: StripeApiError | null } => {
      const customer = params.customer ? lookup("customer", params.customer, "customer") : null;
      const paymentMethod = paymentMethods.paymentMethodForPayment(params.payment_method ?? "", customer, "payment_method");
      const card = paymentMethods.testCardOf(paymentMethod.id);
      const decline = offSessionDecline(card, paymentMethods.cardState(paymentMethod.id).setUp);
      const recorded = recordPayment(core, {
        amount: params.amount,
        currency: params.currency,
        customer,
        email: params.receipt_email ?? customer?.email ?? null,
        description: params.description ?? null,
        metadata: params.metadata ?? {},
        kind: "card",
        settled: true,
        paymentMethod: paymentMethod.id,
        card: paymentMethod.card,
      });
      const shaped: Stripe.PaymentIntent = {
        ...recorded.paymentIntent,
        automatic_payment_methods: automatic,
        allowed_payment_method_types: params.allowed_payment_method_types ?? null,
        receipt_email: params.receipt_email ?? null,
      };
      // The object as it was created, before the confirmation that the same request asked for.
      emit("payment_intent.created", { ...shaped, status: "requires_confirmation", amount_received: 0, latest_charge: null }, context);
      if (!decline) {
        store.putObject(shaped);
        emit("charge.succeeded", recorded.charge, context);
        emit("payment_intent.succeeded", shaped, context);
        return { paymentIntent: shaped, error: null };
      }
      const { charge, paymentIntent } = declined(recorded.charge, shaped, paymentMethod, decline);
      store.putObject(charge, paymentIntent.id);
      store.putObject(paymentIntent);
      emit("charge.failed", charge, context);
      emit("payment_intent.payment_failed", paymentIntent, context);
      return {
        paymentIntent,
        error: cardError({
          code: decline.code,
          decline_code: decline.declineCode,
          message: decline.message,
          charge: charge.id,
          payment_intent: paymentIntent,
          payment_method: paymentMethod,
        }),
      };
    });
    if (outcome.error) throw outcome.error;
    return outcome.paymentIntent;
  }

  /** The customer's PaymentIntents (all of them, when no customer is named), oldest first. */
  function listPaymentIntents(customerId: string | undefined): Stripe.PaymentIntent[] {
    return store.listObjects("payment_intent").filter((paymentIntent) => !customerId || idOf(paymentIntent.customer) === customerId);
  }

  return { createPaymentIntent, listPaymentIntents };
}

/** The issuer said no: a failed charge, and a PaymentIntent that wants another payment method. */
function declined(
  charge: Stripe.Charge,
  paymentIntent: Stripe.PaymentIntent,
  paymentMethod: Stripe.PaymentMethod,
  decline: CardDecline,
): { charge: Stripe.Charge; paymentIntent: Stripe.PaymentIntent } {
  const failedCharge: Stripe.Charge = {
    ...charge,
    status: "failed",
    paid: false,
    captured: false,
    amount_captured: 0,
    failure_code: decline.code,
    failure_message: decline.message,
    outcome: charge.outcome && {
      ...charge.outcome,
      network_status: "declined_by_network",
      reason: decline.declineCode,
      seller_message: `The bank returned the decline code \`${decline.declineCode}\`.`,
      type: "issuer_declined",
    },
  };
  const failedIntent: Stripe.PaymentIntent = {
    ...paymentIntent,
    status: "requires_payment_method",
    amount_received: 0,
    payment_method: null,
    last_payment_error: {
      type: "card_error",
      code: decline.code,
      decline_code: decline.declineCode,
      charge: charge.id,
      doc_url: `https://stripe.com/docs/error-codes/${decline.code.replace(/_/g, "-")}`,
      message: decline.message,
      payment_method: paymentMethod,
      payment_method_type: "card",
    },
  };
  return { charge: failedCharge, paymentIntent: failedIntent };
}
