/**
 * Every idempotency key this app writes, in one place: the ledger's keys (a key names one write;
 * the same key again is the same write, see ledger.server.ts) and the keys sent to Stripe with a
 * request (the same key again returns Stripe's first answer).
 *
 * A key is built from the outside id that makes a write unique (a Checkout Session, a charge's
 * cumulative refund, a dispute, a generation job, a form token). A second place that builds one
 * of these strings would be a second home for a money rule: tests/unit/ledger-keys.test.ts fails
 * if any other file under app/ or scripts/ does.
 */

// ---------------------------------------------------------------------------------------------
// Ledger keys (transactions.idempotency_key)

export const ledgerKeys = {
  /** The purchase granted for a paid Checkout Session. */
  checkout: (sessionId: string) => `checkout:${sessionId}`,
  /** The clawback for a charge at one cumulative refunded amount: a late, older event takes nothing. */
  refund: (chargeId: string, cumulativeAmountRefunded: number) => `refund:${chargeId}:${cumulativeAmountRefunded}`,
  /** The clawback when a dispute withdraws the money. */
  dispute: (disputeId: string) => `dispute:${disputeId}`,
  /** The reversal of that clawback when the dispute is won (its funds reinstated). */
  disputeWon: (disputeId: string) => `dispute-won:${disputeId}`,
  /** The hold (then posted or voided) of one generation job. */
  generation: (generationId: string) => `generation:${generationId}`,
  /** The one sign-up bonus of an account. */
  signupBonus: (userId: number) => `signup-bonus:${userId}`,
  /** An admin's manual change, keyed on the form's token: a double submit is a replay. */
  adminAdjustment: (formToken: string) => `admin-adjust:${formToken}`,
  /** The `expire` row that closes a grant past its expiry (its unspent rest). */
  grantExpiry: (grantId: number) => `grant-expiry:${grantId}`,
  /** The `expire` row for credits a void gave back to a grant that had already closed. */
  grantExpiryAfterVoid: (grantId: number, holdId: number) => `grant-expiry:${grantId}:void:${holdId}`,
  /** The plan credits one paid subscription invoice grants (once, whatever the events). */
  planInvoice: (invoiceId: string) => `invoice:${invoiceId}`,
  /** The unspent rest of a period's plan credits moved into the period a paid invoice starts. */
  planRollover: (invoiceId: string) => `rollover:${invoiceId}`,
  /** The credits of a redeem code for one user (a code is redeemed once per user). */
  redemption: (codeId: number, userId: number) => `redeem:${codeId}:${userId}`,
  /** The credits an auto-recharge PaymentIntent bought, granted once its payment_intent.succeeded arrives. */
  topup: (paymentIntentId: string) => `topup:${paymentIntentId}`,
  /** Synthetic rows written by scripts/seed-large.ts (benchmark data, never a real movement). */
  seeded: (rowId: number) => `seed:${rowId}`,
} as const;

// ---------------------------------------------------------------------------------------------
// Stripe request idempotency keys (the Idempotency-Key header the SDK sends)

export const stripeRequestKeys = {
  /** One Customer per user, however many checkouts race to create it. */
  customerForUser: (userId: number) => `customer-for-user-${userId}`,
  /** One Checkout Session per submitted form (its token), per user and pack. */
  checkoutSession: (userId: number, packId: string, formToken: string) => `checkout-${userId}-${packId}-${formToken}`,
  /** One subscription Checkout Session per submitted form, per user and plan. */
  planCheckoutSession: (userId: number, planId: string, formToken: string) => `plan-checkout-${userId}-${planId}-${formToken}`,
  /** One Customer Portal session per click (the form's token). */
  portalSession: (userId: number, formToken: string) => `portal-${userId}-${formToken}`,
  /** One setup-mode Checkout Session (save a card) per submitted form, per user. */
  cardSetupSession: (userId: number, formToken: string) => `card-setup-${userId}-${formToken}`,
  /** One off-session PaymentIntent per auto-recharge attempt (a crossing): a restart or a retry
   * re-sends the same key and gets Stripe's first answer, never a second charge. */
  autoRecharge: (userId: number, attemptId: number) => `auto-recharge-${userId}-${attemptId}`,
  /** One refund per admin form submission for a purchase. */
  adminRefund: (purchaseTransactionId: number, formToken: string) => `admin-refund-${purchaseTransactionId}-${formToken}`,
} as const;
