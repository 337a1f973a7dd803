import type Stripe from "stripe";
import { fromFixture } from "./objects.server";
import type { TestCard } from "./test-cards.server";

/**
 * Builders for saved cards: PaymentMethods (`type: "card"`) and the SetupIntents that save them.
 * Like objects.server.ts: Stripe's example object (fixtures/stripe-fixtures.json), overridden
 * where it matters, typed with the SDK's types.
 */

/** Stripe's test cards expire in any future month; the emulator gives each a fixed one. */
export const TEST_CARD_EXPIRY = { month: 12, year: 2034 };

export function buildPaymentMethod(input: {
  id: string;
  created: number;
  card: TestCard;
  fingerprint: string;
  customer: string | null;
  billingEmail: string | null;
  billingName: string | null;
}): Stripe.PaymentMethod {
  const fixture = fromFixture("payment_method");
  return {
    ...fixture,
    id: input.id,
    object: "payment_method",
    allow_redisplay: "unspecified",
    billing_details: {
      address: { city: null, country: null, line1: null, line2: null, postal_code: null, state: null },
      email: input.billingEmail,
      name: input.billingName,
      phone: null,
      tax_id: null,
    },
    card: {
      ...fixture.card,
      brand: input.card.brand,
      checks: { address_line1_check: null, address_postal_code_check: null, cvc_check: "pass" },
      country: input.card.country,
      display_brand: input.card.brand,
      exp_month: TEST_CARD_EXPIRY.month,
      exp_year: TEST_CARD_EXPIRY.year,
      fingerprint: input.fingerprint,
      funding: input.card.funding,
      generated_from: null,
      last4: input.card.last4,
      networks: { available: [input.card.brand], preferred: null },
      regulated_status: "unregulated",
      three_d_secure_usage: { supported: true },
      wallet: null,
    },
    created: input.created,
    customer: input.customer,
    customer_account: null,
    livemode: false,
    metadata: {},
    type: "card",
  };
}

export function buildSetupIntent(input: {
  id: string;
  created: number;
  customer: string | null;
  description: string | null;
  metadata: Stripe.Metadata;
  paymentMethod: string;
  usage: "off_session" | "on_session";
  clientSecret: string;
}): Stripe.SetupIntent {
  return {
    ...fromFixture("setup_intent"),
    id: input.id,
    object: "setup_intent",
    allowed_payment_method_types: null,
    application: null,
    automatic_payment_methods: null,
    cancellation_reason: null,
    client_secret: input.clientSecret,
    created: input.created,
    customer: input.customer,
    description: input.description,
    excluded_payment_method_types: null,
    flow_directions: null,
    last_setup_error: null,
    latest_attempt: null,
    livemode: false,
    mandate: null,
    metadata: input.metadata,
    next_action: null,
    on_behalf_of: null,
    payment_method: input.paymentMethod,
    payment_method_configuration_details: null,
    payment_method_options: {
      card: { mandate_options: null, network: null, request_three_d_secure: "automatic" },
    },
    payment_method_types: ["card"],
    single_use_mandate: null,
    status: "succeeded",
    usage: input.usage,
  };
}
