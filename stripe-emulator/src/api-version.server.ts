/**
 * The one Stripe API version the emulator speaks: the shape of every object and event it serves,
 * the `api_version` of its events, and the `Stripe-Version` it answers when a request names none.
 * The app pins the same version (STRIPE_API_VERSION in app/services/stripe.server.ts);
 * tests/unit/stripe-api-version.test.ts checks that the two agree.
 */
export const EMULATED_API_VERSION = "2026-10-28.endive" as const;
