/**
 * What the app does about each Stripe event it handles. Every reaction is planned in two steps:
 * first whatever must be read from Stripe (async: the session, the PaymentIntent, the dispute as
 * it is now), then one `apply` that webhook-events.server.ts runs inside the same write body
 * that marks the event processed (awaiting only the database), so an event and its ledger effect
 * commit together or not at all. Objects that are not this app's are planned as "ignore".
 *
 * On the executor (decision 036): one SQL text for SQLite and PostgreSQL.
 */
import type Stripe from "stripe";
import type { PortableDb } from "#db/client.server";
import type { SqlRunner } from "#db/sql.server";
import { stripeIdOf } from "~/utils/stripe-ids";
import type { Config } from "../env.server";
import { markCheckout } from "./checkout-attempts.server";
import { failAttempt, grantRecharge, rechargeAttemptOf, refusalOf } from "./auto-recharge.server";
import { applyChargeRefunded } from "./clawbacks.server";
import { applyDispute } from "./disputes.server";
import { grantCheckout, retrieveCheckout } from "./fulfilment.server";
import { readPurchaseByPaymentId, type Tx } from "./ledger.server";
import { isAppPayment } from "./ownership.server";
import { grantPlanInvoice, readPlanCheckout, readPlanInvoice, recordFailedInvoice } from "./plan-invoices.server";
import { forgetDetachedCard, recordAttachedCard, userOfCustomer } from "./saved-cards.server";
import { applySubscription, subscriptionOwner } from "./subscriptions.server";

/** `apply` runs inside the event's write body (`tx`) and awaits nothing but the database. */
export type Plan = { kind: "apply"; apply: (tx: SqlRunner) => Promise<Record<string, unknown>> } | { kind: "ignore"; why: string };

export class PurchaseNotFoundYetError extends Error {
  constructor(paymentIntentId: string) {
    // Answering 500 makes Stripe retry: the purchase's own session may not be complete yet.
    super(`No purchase recorded yet for payment ${paymentIntentId}, and no paid session found for it; retry later`);
  }
}

export const HANDLED_EVENTS = [
  "checkout.session.completed",
  "checkout.session.async_payment_succeeded",
  "checkout.session.async_payment_failed",
  "checkout.session.expired",
  "charge.refunded",
  "charge.dispute.created",
  "charge.dispute.updated",
  "charge.dispute.closed",
  "charge.dispute.funds_withdrawn",
  "charge.dispute.funds_reinstated",
  // invoice.paid, not invoice.payment_succeeded: Stripe sends both for every payment, and only
  // invoice.paid also covers an invoice marked paid out of band. One grant either way (its key).
  "invoice.paid",
  "invoice.payment_failed",
  "customer.subscription.created",
  "customer.subscription.updated",
  "customer.subscription.deleted",
  // Auto-recharge (decision 027): its credits arrive only from payment_intent.succeeded.
  "payment_intent.succeeded",
  "payment_intent.payment_failed",
  "payment_method.attached",
  "payment_method.detached",
] as const;

type Deps = { db: PortableDb; stripe: Stripe; config: Config };

async function planCheckout(deps: Deps, sessionId: string): Promise<Plan> {
  const session = await retrieveCheckout(deps.stripe, sessionId);
  if (session.mode === "subscription") return planSubscriptionCheckout(deps, session);
  return {
    kind: "apply",
    apply: async (tx) => {
      const result = await grantCheckout(deps.config, session, tx);
      return { sessionId, status: result.status, userId: result.userId, credits: result.credits };
    },
  };
}

/** A plan's completed session grants its first invoice (as invoice.paid does, same key). */
async function planSubscriptionCheckout(deps: Deps, session: Stripe.Checkout.Session): Promise<Plan> {
  const read = await readPlanCheckout(deps, session);
  if ("ignore" in read) return { kind: "ignore", why: read.ignore };
  const invoice = read.invoice;
  if (!invoice) return { kind: "ignore", why: `session ${session.id} has no invoice yet; invoice.paid grants it` };
  return { kind: "apply", apply: async (tx) => ({ sessionId: session.id, invoiceId: invoice.invoiceId, status: (await grantPlanInvoice(tx, invoice)).status }) };
}

function planCheckoutFate(session: Stripe.Checkout.Session, status: "failed" | "expired"): Plan {
  // Nothing was granted for an unpaid session, so there is nothing to take back; the buyer sees it.
  return { kind: "apply", apply: async (tx) => (await markCheckout(tx, session.id, status), { sessionId: session.id, status }) };
}

/**
 * The app's purchase behind a payment, for a refund or a dispute. A payment that is not the app's
 * is ignored; one that is ours but not fulfilled yet (a refund racing the purchase's own events)
 * is fulfilled first, in the same transaction, from the session Stripe has for it.
 */
async function purchaseFor(deps: Deps, paymentIntentId: string): Promise<{ ignore: string } | { purchase: (tx: SqlRunner) => Promise<Tx> }> {
  const known = await readPurchaseByPaymentId(deps.db, paymentIntentId);
  if (known) return { purchase: async () => known };
  const intent = await deps.stripe.paymentIntents.retrieve(paymentIntentId);
  if (!isAppPayment(intent)) return planInvoiceFor(deps, paymentIntentId);
  const sessions = await deps.stripe.checkout.sessions.list({ payment_intent: paymentIntentId, limit: 1 });
  const sessionId = sessions.data[0]?.id;
  if (!sessionId) throw new PurchaseNotFoundYetError(paymentIntentId);
  const session = await retrieveCheckout(deps.stripe, sessionId);
  return {
    purchase: async (tx) => {
      const result = await grantCheckout(deps.config, session, tx);
      if (result.status !== "granted" && result.status !== "already_granted") throw new PurchaseNotFoundYetError(paymentIntentId);
      return result.transaction;
    },
  };
}

/**
 * The plan period a subscription's payment paid (its PaymentIntent carries no app metadata: the
 * invoice, found through InvoicePayments, names the subscription). Granted first, in the same
 * transaction, when its invoice.paid has not arrived yet.
 */
async function planInvoiceFor(deps: Deps, paymentIntentId: string): Promise<{ ignore: string } | { purchase: (tx: SqlRunner) => Promise<Tx> }> {
  const payments = await deps.stripe.invoicePayments.list({ payment: { type: "payment_intent", payment_intent: paymentIntentId }, limit: 1 });
  const invoiceId = stripeIdOf(payments.data[0]?.invoice);
  if (!invoiceId) return { ignore: `payment ${paymentIntentId} was not made through this app` };
  const read = await readPlanInvoice(deps, invoiceId);
  if ("ignore" in read) return read;
  return {
    purchase: async (tx) => {
      const result = await grantPlanInvoice(tx, read.invoice);
      if (result.status === "not_paid") throw new PurchaseNotFoundYetError(paymentIntentId);
      return result.transaction;
    },
  };
}

async function planPaidInvoice(deps: Deps, invoiceId: string): Promise<Plan> {
  const read = await readPlanInvoice(deps, invoiceId);
  if ("ignore" in read) return { kind: "ignore", why: read.ignore };
  return {
    kind: "apply",
    apply: async (tx) => {
      const result = await grantPlanInvoice(tx, read.invoice);
      const rolled = "expired" in result ? { expired: result.expired, rolledOver: result.rolledOver } : {};
      return { invoiceId, status: result.status, userId: result.userId, credits: result.credits, ...rolled };
    },
  };
}

async function planFailedInvoice(deps: Deps, invoiceId: string): Promise<Plan> {
  const read = await readPlanInvoice(deps, invoiceId);
  if ("ignore" in read) return { kind: "ignore", why: read.ignore };
  // Paid meanwhile (a retry succeeded): its invoice.paid grants; nothing failed any more.
  if (read.invoice.status === "paid") return { kind: "ignore", why: `invoice ${invoiceId} is paid now` };
  return { kind: "apply", apply: async (tx) => ({ invoiceId, ...(await recordFailedInvoice(deps.config, read.invoice, tx)) }) };
}

async function planSubscription(deps: Deps, payload: Stripe.Subscription, eventCreated: number): Promise<Plan> {
  // The subscription as it is now, not as this (possibly old, possibly reordered) event saw it.
  const sub = await deps.stripe.subscriptions.retrieve(payload.id);
  const userId = await subscriptionOwner(deps.db, sub.metadata, stripeIdOf(sub.customer) ?? null);
  if (userId === null) return { kind: "ignore", why: `subscription ${sub.id} is not this app's (or not this customer's)` };
  return { kind: "apply", apply: async (tx) => applySubscription(tx, deps.config, sub, userId, eventCreated) };
}

async function planRefund(deps: Deps, charge: Stripe.Charge): Promise<Plan> {
  const paymentIntentId = stripeIdOf(charge.payment_intent);
  if (!paymentIntentId) return { kind: "ignore", why: `charge ${charge.id} has no PaymentIntent` };
  const found = await purchaseFor(deps, paymentIntentId);
  if ("ignore" in found) return { kind: "ignore", why: found.ignore };
  return {
    kind: "apply",
    apply: async (tx) => ({ chargeId: charge.id, ...(await applyChargeRefunded(tx, charge, await found.purchase(tx), paymentIntentId)) }),
  };
}

async function planDispute(deps: Deps, payload: Stripe.Dispute): Promise<Plan> {
  const paymentIntentId = stripeIdOf(payload.payment_intent);
  if (!paymentIntentId) return { kind: "ignore", why: `dispute ${payload.id} has no PaymentIntent` };
  const found = await purchaseFor(deps, paymentIntentId);
  if ("ignore" in found) return { kind: "ignore", why: found.ignore };
  // The dispute as it is now, not as this (possibly old, possibly reordered) event saw it.
  const dispute = await deps.stripe.disputes.retrieve(payload.id);
  return { kind: "apply", apply: async (tx) => ({ disputeId: dispute.id, ...(await applyDispute(tx, dispute, await found.purchase(tx), paymentIntentId)) }) };
}

/** An auto-recharge PaymentIntent's outcome, read as it is now (not as a reordered event saw it).
 * A PaymentIntent without the app's recharge metadata (a Checkout's, an invoice's) is ignored:
 * its session or invoice events grant. */
async function planRecharge(deps: Deps, payload: Stripe.PaymentIntent): Promise<Plan> {
  if (!(await rechargeAttemptOf(deps.db, payload))) return { kind: "ignore", why: `PaymentIntent ${payload.id} is not an auto-recharge of this app` };
  const intent = await deps.stripe.paymentIntents.retrieve(payload.id);
  return {
    kind: "apply",
    apply: async (tx) => {
      const attempt = await rechargeAttemptOf(tx, intent);
      if (!attempt) return { paymentIntentId: intent.id, status: "not_ours" };
      if (intent.status === "succeeded") return { paymentIntentId: intent.id, ...(await grantRecharge(deps, attempt, intent, tx)) };
      const refused = refusalOf(intent);
      if (refused) return { paymentIntentId: intent.id, ...(await failAttempt(deps, attempt.id, intent.id, refused, tx)) };
      return { paymentIntentId: intent.id, status: intent.status };
    },
  };
}

/** A card attached to or detached from a customer, as Stripe has it now. */
async function planCard(deps: Deps, payload: Stripe.PaymentMethod): Promise<Plan> {
  const pm = await deps.stripe.paymentMethods.retrieve(payload.id);
  if (pm.customer && (await userOfCustomer(deps.db, stripeIdOf(pm.customer))) === null) return { kind: "ignore", why: `card ${pm.id} is not saved to one of this app's customers` };
  if (!pm.customer) return { kind: "apply", apply: async (tx) => ({ paymentMethodId: pm.id, forgotten: await forgetDetachedCard(tx, pm.id) }) };
  return { kind: "apply", apply: async (tx) => ({ paymentMethodId: pm.id, ...(await recordAttachedCard(tx, pm)) }) };
}

/** A setup-mode Checkout completed: the card its SetupIntent saved. */
async function planSetupCheckout(deps: Deps, sessionId: string): Promise<Plan> {
  const session = await deps.stripe.checkout.sessions.retrieve(sessionId, { expand: ["setup_intent.payment_method"] });
  const setup = session.setup_intent;
  const pm = setup && typeof setup !== "string" ? setup.payment_method : null;
  if (!pm || typeof pm === "string" || session.status !== "complete") return { kind: "ignore", why: `setup session ${sessionId} saved no card` };
  return { kind: "apply", apply: async (tx) => ({ sessionId, paymentMethodId: pm.id, ...(await recordAttachedCard(tx, pm)) }) };
}

export async function planReaction(deps: Deps, event: Stripe.Event): Promise<Plan> {
  switch (event.type) {
    case "checkout.session.completed":
    case "checkout.session.async_payment_succeeded":
      if (event.data.object.mode === "setup") return planSetupCheckout(deps, event.data.object.id);
      return planCheckout(deps, event.data.object.id);
    case "checkout.session.async_payment_failed":
      return planCheckoutFate(event.data.object, "failed");
    case "checkout.session.expired":
      return planCheckoutFate(event.data.object, "expired");
    case "charge.refunded":
      return planRefund(deps, event.data.object);
    case "charge.dispute.created":
    case "charge.dispute.updated":
    case "charge.dispute.closed":
    case "charge.dispute.funds_withdrawn":
    case "charge.dispute.funds_reinstated":
      return planDispute(deps, event.data.object);
    case "invoice.paid":
      return planPaidInvoice(deps, event.data.object.id);
    case "invoice.payment_failed":
      return planFailedInvoice(deps, event.data.object.id);
    case "customer.subscription.created":
    case "customer.subscription.updated":
    case "customer.subscription.deleted":
      return planSubscription(deps, event.data.object, event.created);
    case "payment_intent.succeeded":
    case "payment_intent.payment_failed":
      return planRecharge(deps, event.data.object);
    case "payment_method.attached":
    case "payment_method.detached":
      return planCard(deps, event.data.object);
    default:
      return { kind: "ignore", why: `event type ${event.type} is not handled` };
  }
}
