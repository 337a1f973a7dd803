/**
 * Stripe's test cards that the emulator knows, with the test PaymentMethod ids
 * (`pm_card_visa`, ...) Stripe accepts in test mode in their place. Each behaves as Stripe
 * documents it (https://docs.stripe.com/testing): what happens when it pays on the hosted page,
 * when it is saved for later (a SetupIntent, or a payment with `setup_future_usage`), and when a
 * saved card is charged off-session.
 *
 * Two of them differ in a way that matters to an app testing its recovery path: 3155 needs
 * authentication only until it is set up (a card saved through Checkout then pays off-session),
 * while 3184 needs it on every payment (saved or not, an off-session payment fails with
 * `authentication_required`). And 9995 cannot be saved at all (Stripe's validation declines it);
 * a card that saves and then declines every charge is 0341.
 */

export type CardDecline = {
  /** The error's `code` (and the charge's `failure_code`). */
  code: "card_declined" | "authentication_required";
  declineCode: string;
  message: string;
};

/** What an off-session payment with the card does. */
export type OffSessionBehaviour = "succeeds" | "requires_authentication" | "requires_authentication_unless_set_up" | "declined";

export type TestCard = {
  number: string;
  /** Stripe's test PaymentMethod id for this card. */
  token: string;
  brand: "visa" | "mastercard";
  last4: string;
  funding: "credit" | "debit";
  country: string;
  /** A human name for the hosted page's card choice. */
  label: string;
  /** Saving the card (a SetupIntent validates it) is declined: it cannot be saved. */
  declinesSetup: CardDecline | null;
  /** Every charge is declined, on-session or off. */
  declinesCharges: CardDecline | null;
  offSession: OffSessionBehaviour;
};

export const AUTHENTICATION_REQUIRED: CardDecline = {
  code: "authentication_required",
  declineCode: "authentication_required",
  message: "Your card was declined. This transaction requires authentication.",
};

const INSUFFICIENT_FUNDS: CardDecline = {
  code: "card_declined",
  declineCode: "insufficient_funds",
  message: "Your card has insufficient funds.",
};

const GENERIC_DECLINE: CardDecline = {
  code: "card_declined",
  declineCode: "generic_decline",
  message: "Your card was declined.",
};

export const TEST_CARDS: readonly TestCard[] = [
  {
    number: "4242424242424242",
    token: "pm_card_visa",
    brand: "visa",
    last4: "4242",
    funding: "credit",
    country: "US",
    label: "Visa 4242 — succeeds",
    declinesSetup: null,
    declinesCharges: null,
    offSession: "succeeds",
  },
  {
    number: "4000002500003155",
    token: "pm_card_authenticationRequiredOnSetup",
    brand: "visa",
    last4: "3155",
    funding: "credit",
    country: "IE",
    label: "Visa 3155 — authentication unless set up (off-session payments succeed once saved)",
    declinesSetup: null,
    declinesCharges: null,
    offSession: "requires_authentication_unless_set_up",
  },
  {
    number: "4000002760003184",
    token: "pm_card_authenticationRequired",
    brand: "visa",
    last4: "3184",
    funding: "credit",
    country: "DE",
    label: "Visa 3184 — always authenticate (off-session payments need the customer)",
    declinesSetup: null,
    declinesCharges: null,
    offSession: "requires_authentication",
  },
  {
    number: "4000000000009995",
    token: "pm_card_chargeDeclinedInsufficientFunds",
    brand: "visa",
    last4: "9995",
    funding: "credit",
    country: "US",
    label: "Visa 9995 — declined, insufficient funds (cannot be saved)",
    declinesSetup: INSUFFICIENT_FUNDS,
    declinesCharges: INSUFFICIENT_FUNDS,
    offSession: "declined",
  },
  {
    number: "4000000000000341",
    token: "pm_card_chargeCustomerFail",
    brand: "visa",
    last4: "0341",
    funding: "credit",
    country: "US",
    label: "Visa 0341 — saves, then every charge is declined",
    declinesSetup: null,
    declinesCharges: GENERIC_DECLINE,
    offSession: "declined",
  },
];

export const DEFAULT_TEST_CARD = TEST_CARDS[0];

export function findTestCard(numberOrToken: string): TestCard | undefined {
  const bare = numberOrToken.replace(/[\s-]/g, "");
  return TEST_CARDS.find((card) => card.number === bare || card.token === numberOrToken);
}

/** The decline an off-session payment with this card meets, if any (`setUp`: saved by a SetupIntent or `setup_future_usage`). */
export function offSessionDecline(card: TestCard, setUp: boolean): CardDecline | null {
  switch (card.offSession) {
    case "succeeds":
      return null;
    case "requires_authentication":
      return AUTHENTICATION_REQUIRED;
    case "requires_authentication_unless_set_up":
      return setUp ? null : AUTHENTICATION_REQUIRED;
    case "declined":
      return card.declinesCharges ?? GENERIC_DECLINE;
  }
}
