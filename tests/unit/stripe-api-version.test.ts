import { expect, it } from "vitest";
import { STRIPE_API_VERSION } from "../../app/services/stripe.server";
import { EMULATED_API_VERSION } from "../../stripe-emulator/src/index.server";

// The app reads the shapes of the version it pins; in test mode the emulator serves those shapes.
it("the Stripe API version the app pins is the one the emulator speaks", () => {
  expect(STRIPE_API_VERSION).toBe(EMULATED_API_VERSION);
});
