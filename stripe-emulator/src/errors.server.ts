import type Stripe from "stripe";

/**
 * Stripe's error shape, as the emulator answers it:
 * `{"error":{"type":"invalid_request_error","message":"...","param":"...","code":"resource_missing"}}`.
 * The stripe SDK turns `type` into its error classes (`StripeInvalidRequestError`, ...), so the
 * types used here are Stripe's own.
 */

export type StripeErrorType =
  | "api_error"
  | "card_error"
  | "idempotency_error"
  | "invalid_request_error";

export type StripeErrorBody = {
  type: StripeErrorType;
  message: string;
  code?: string;
  decline_code?: string;
  param?: string;
  doc_url?: string;
  /** Card errors: the failed charge, and the PaymentIntent and PaymentMethod as they are now. */
  charge?: string;
  payment_intent?: Stripe.PaymentIntent;
  payment_method?: Stripe.PaymentMethod;
  setup_intent?: Stripe.SetupIntent;
};

export class StripeApiError extends Error {
  readonly status: number;
  readonly body: StripeErrorBody;
  /**
   * The request ran and changed the account before it failed (a declined payment leaves its
   * PaymentIntent and events behind): Stripe keeps such an answer for its idempotency key, so a
   * retry gets the same error instead of a second attempt.
   */
  readonly executed: boolean;

  constructor(status: number, body: StripeErrorBody, options: { executed?: boolean } = {}) {
    super(body.message);
    this.name = "StripeApiError";
    this.status = status;
    this.executed = options.executed ?? false;
    this.body = body.code
      ? { ...body, doc_url: `https://stripe.com/docs/error-codes/${body.code.replace(/_/g, "-")}` }
      : body;
  }

  toJSON(): { error: StripeErrorBody } {
    return { error: this.body };
  }
}

export function invalidRequest(
  message: string,
  options: { param?: string; code?: string; status?: number } = {},
): StripeApiError {
  return new StripeApiError(options.status ?? 400, {
    type: "invalid_request_error",
    message,
    ...(options.code ? { code: options.code } : {}),
    ...(options.param ? { param: options.param } : {}),
  });
}

/** `No such customer: 'cus_123'` — 404 when the id is in the URL, 400 when it is a parameter. */
export function resourceMissing(
  objectName: string,
  id: string,
  options: { param: string; status: 400 | 404 },
): StripeApiError {
  return invalidRequest(`No such ${objectName}: '${id}'`, {
    code: "resource_missing",
    param: options.param,
    status: options.status,
  });
}

export function idempotencyError(message: string): StripeApiError {
  return new StripeApiError(400, { type: "idempotency_error", message });
}

/** A 402 card error after the payment was attempted (see `executed`). */
export function cardError(body: Omit<StripeErrorBody, "type">): StripeApiError {
  return new StripeApiError(402, { type: "card_error", ...body }, { executed: true });
}
