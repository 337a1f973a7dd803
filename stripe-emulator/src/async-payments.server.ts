import type Stripe from "stripe";
import { CUSTOMER_ACTION, idOf, type AccountCore } from "./account-core.server";

/**
 * Delayed payment methods (bank debits): the session completes unpaid, and the bank answers
 * later, after `asyncPaymentDelayMs` or when the test driver asks. The pending answer is a job in
 * the store, so it survives a restart.
 */

const ASYNC_PAYMENT_JOB = "async_payment";
type AsyncPaymentJob = { sessionId: string; succeeds: boolean };

function asyncJobId(sessionId: string): string {
  return `${ASYNC_PAYMENT_JOB}:${sessionId}`;
}

export function createAsyncPayments(core: AccountCore) {
  const { store, scheduler, emit, retrieve, now, log } = core;

  /** Records the bank's pending answer; call inside the transaction that completes the session. */
  function recordPendingAnswer(sessionId: string, succeeds: boolean): void {
    const job: AsyncPaymentJob = { sessionId, succeeds };
    store.putJob({ id: asyncJobId(sessionId), kind: ASYNC_PAYMENT_JOB, dueAt: now() + core.asyncPaymentDelayMs, data: job });
  }

  function scheduleAsyncPayment(sessionId: string, delayMs: number): void {
    scheduler.schedule(asyncJobId(sessionId), delayMs, () => {
      settleAsyncPayment(sessionId);
    });
  }

  /** The bank's answer for a delayed payment: the money arrived, or it did not. */
  function settleAsyncPayment(sessionId: string): void {
    store.transaction(() => {
      const job = store.getJob(asyncJobId(sessionId));
      if (!job) return;
      store.deleteJob(job.id);
      const { succeeds } = job.data as AsyncPaymentJob;
      const session = retrieve("checkout.session", sessionId);
      const paymentIntent = retrieve("payment_intent", idOf(session.payment_intent) ?? "");
      const charge = retrieve("charge", idOf(paymentIntent.latest_charge) ?? "");
      if (paymentIntent.status !== "processing") return;

      if (succeeds) {
        const paidCharge: Stripe.Charge = {
          ...charge,
          status: "succeeded",
          paid: true,
          outcome: charge.outcome && { ...charge.outcome, seller_message: "Payment complete." },
        };
        const paidIntent: Stripe.PaymentIntent = {
          ...paymentIntent,
          status: "succeeded",
          amount_received: paymentIntent.amount,
        };
        const paidSession: Stripe.Checkout.Session = { ...session, payment_status: "paid" };
        store.putObject(paidCharge, paidIntent.id);
        store.putObject(paidIntent);
        store.putObject(paidSession);
        emit("charge.succeeded", paidCharge, CUSTOMER_ACTION, { status: charge.status, paid: charge.paid });
        emit("payment_intent.succeeded", paidIntent, CUSTOMER_ACTION);
        emit("checkout.session.async_payment_succeeded", paidSession, CUSTOMER_ACTION);
      } else {
        const failureMessage = "The customer's account has insufficient funds to cover this payment.";
        const failedCharge: Stripe.Charge = {
          ...charge,
          status: "failed",
          paid: false,
          failure_code: "insufficient_funds",
          failure_message: failureMessage,
          outcome: charge.outcome && {
            ...charge.outcome,
            network_status: "declined_by_network",
            reason: "insufficient_funds",
            seller_message: "The bank returned the decline code `insufficient_funds`.",
            type: "issuer_declined",
          },
        };
        const failedIntent: Stripe.PaymentIntent = {
          ...paymentIntent,
          status: "requires_payment_method",
          payment_method: null,
          last_payment_error: {
            type: "card_error",
            code: "insufficient_funds",
            charge: charge.id,
            message: failureMessage,
            payment_method_type: paymentIntent.payment_method_types[0],
          },
        };
        store.putObject(failedCharge, failedIntent.id);
        store.putObject(failedIntent);
        emit("charge.failed", failedCharge, CUSTOMER_ACTION, { status: charge.status });
        emit("payment_intent.payment_failed", failedIntent, CUSTOMER_ACTION);
        emit("checkout.session.async_payment_failed", session, CUSTOMER_ACTION);
      }
      log("stripe-emulator: delayed payment settled", { sessionId, succeeds });
    });
  }

  /** Settles every delayed payment now (test driver), instead of waiting for its timer. */
  function settleAllAsyncPayments(): number {
    const jobs = store.listJobs().filter((job) => job.kind === ASYNC_PAYMENT_JOB);
    for (const job of jobs) {
      const { sessionId } = job.data as AsyncPaymentJob;
      scheduler.cancel(asyncJobId(sessionId));
      settleAsyncPayment(sessionId);
    }
    return jobs.length;
  }

  /** After a restart: the delayed payments that had not settled yet get their timers back. */
  function resumeAsyncPayments(): void {
    for (const job of store.listJobs()) {
      if (job.kind !== ASYNC_PAYMENT_JOB) continue;
      scheduleAsyncPayment((job.data as AsyncPaymentJob).sessionId, job.dueAt - now());
    }
  }

  return { recordPendingAnswer, scheduleAsyncPayment, settleAllAsyncPayments, resumeAsyncPayments };
}

export type AsyncPayments = ReturnType<typeof createAsyncPayments>;
