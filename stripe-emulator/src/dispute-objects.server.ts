import type Stripe from "stripe";
import { fromFixture } from "./objects.server";

/**
 * Disputes and the balance transactions they move money with, from Stripe's example objects.
 * An inquiry (Visa's retrieval request, Stripe's `warning_*` statuses) only asks questions: no
 * money moves and the charge can still be refunded. A chargeback withdraws the disputed amount at
 * once and gives it back if the merchant wins.
 */

const EVIDENCE_WINDOW_S = 7 * 24 * 60 * 60;

export function buildDispute(input: {
  id: string;
  created: number;
  amount: number;
  charge: Stripe.Charge;
  reason: string;
  inquiry: boolean;
  balanceTransactions: Stripe.BalanceTransaction[];
}): Stripe.Dispute {
  const { charge } = input;
  const fixture = fromFixture("dispute");
  return {
    ...fixture,
    id: input.id,
    object: "dispute",
    created: input.created,
    amount: input.amount,
    balance_transactions: input.balanceTransactions,
    charge: charge.id,
    currency: charge.currency,
    enhanced_eligibility_types: [],
    evidence: { ...fixture.evidence, enhanced_evidence: {} },
    evidence_details: {
      due_by: input.created + EVIDENCE_WINDOW_S,
      enhanced_eligibility: {},
      has_evidence: false,
      past_due: false,
      submission_count: 0,
      submission_method: "not_submitted",
    },
    intended_submission_method: null,
    is_charge_refundable: input.inquiry,
    livemode: false,
    metadata: {},
    payment_intent: typeof charge.payment_intent === "string" ? charge.payment_intent : (charge.payment_intent?.id ?? null),
    payment_method_details:
      charge.payment_method_details?.type === "card"
        ? {
            type: "card",
            card: {
              brand: "visa",
              case_type: input.inquiry ? "inquiry" : "chargeback",
              network: "visa",
              network_reason_code: "10.4",
            },
          }
        : undefined,
    reason: input.reason,
    status: input.inquiry ? "warning_needs_response" : "needs_response",
  };
}

/**
 * The money a chargeback takes (negative) or a won one gives back (positive). Stripe also charges
 * a dispute fee; the emulator models no fees, so `fee` is 0 and `net` equals `amount`.
 */
export function buildDisputeBalanceTransaction(input: {
  id: string;
  created: number;
  dispute: { id: string; amount: number; currency: string };
  chargeId: string;
  direction: "withdrawal" | "reinstatement";
}): Stripe.BalanceTransaction {
  const withdrawal = input.direction === "withdrawal";
  const amount = withdrawal ? -input.dispute.amount : input.dispute.amount;
  return {
    ...fromFixture("balance_transaction"),
    id: input.id,
    object: "balance_transaction",
    amount,
    available_on: input.created,
    created: input.created,
    currency: input.dispute.currency,
    description: `${withdrawal ? "Chargeback withdrawal" : "Chargeback reversal"} for ${input.chargeId}`,
    exchange_rate: null,
    fee: 0,
    fee_details: [],
    net: amount,
    reporting_category: withdrawal ? "dispute" : "dispute_reversal",
    source: input.dispute.id,
    status: "available",
    type: "adjustment",
    balance_type: "payments",
  };
}
