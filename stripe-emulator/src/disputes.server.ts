import type Stripe from "stripe";
import { CUSTOMER_ACTION, idOf, type AccountCore } from "./account-core.server";
import { buildDispute, buildDisputeBalanceTransaction } from "./dispute-objects.server";
import { invalidRequest } from "./errors.server";
import { newId } from "./ids.server";
import type { DisputeCloseInput, DisputeCreateInput } from "./params.server";

/**
 * Disputes (test driver: in real life the cardholder's bank opens and decides them), with the
 * events Stripe sends along the way:
 *   inquiry     created (warning_needs_response)                 → closed (warning_closed)
 *   chargeback  created (needs_response) + funds_withdrawn      → closed (won) + funds_reinstated
 *                                                               → closed (lost)
 */

const CLOSED_STATUSES: ReadonlySet<string> = new Set(["won", "lost", "warning_closed"]);

export function createDisputes(core: AccountCore) {
  const { store, emit, retrieve, nowSeconds } = core;

  function createDispute(chargeId: string, input: DisputeCreateInput): Stripe.Dispute {
    return store.transaction(() => {
      const charge = retrieve("charge", chargeId);
      if (charge.status !== "succeeded") {
        throw invalidRequest(`Charge ${charge.id} has not succeeded; it cannot be disputed.`, { param: "charge" });
      }
      if (charge.disputed) {
        throw invalidRequest(`Charge ${charge.id} is already disputed.`, { param: "charge" });
      }
      const amount = input.amount ?? charge.amount;
      if (amount > charge.amount) {
        throw invalidRequest("A dispute cannot be for more than the charge amount.", { param: "amount" });
      }
      const created = nowSeconds();
      const id = newId.dispute();
      const inquiry = input.inquiry ?? false;
      const withdrawal = inquiry
        ? []
        : [
            buildDisputeBalanceTransaction({
              id: newId.balanceTransaction(),
              created,
              dispute: { id, amount, currency: charge.currency },
              chargeId: charge.id,
              direction: "withdrawal",
            }),
          ];
      const dispute = buildDispute({
        id,
        created,
        amount,
        charge,
        reason: input.reason ?? "fraudulent",
        inquiry,
        balanceTransactions: withdrawal,
      });
      const disputedCharge: Stripe.Charge = { ...charge, disputed: true };
      store.putObject(dispute, charge.id);
      store.putObject(disputedCharge, idOf(charge.payment_intent));
      emit("charge.dispute.created", dispute, CUSTOMER_ACTION);
      if (!inquiry) emit("charge.dispute.funds_withdrawn", dispute, CUSTOMER_ACTION);
      return dispute;
    });
  }

  /** An inquiry closes as `warning_closed`; a chargeback is `won` or `lost`. */
  function closeDispute(disputeId: string, input: DisputeCloseInput): Stripe.Dispute {
    return store.transaction(() => {
      const dispute = retrieve("dispute", disputeId);
      if (CLOSED_STATUSES.has(dispute.status)) {
        throw invalidRequest(`Dispute ${dispute.id} is already closed (${dispute.status}).`);
      }
      const inquiry = dispute.status.startsWith("warning_");
      if (inquiry && input.status && input.status !== "warning_closed") {
        throw invalidRequest(
          `Dispute ${dispute.id} is an inquiry: it closes as warning_closed (omit status), never ${input.status}; no funds were withdrawn.`,
          { param: "status" },
        );
      }
      if (!inquiry && input.status !== "won" && input.status !== "lost") {
        throw invalidRequest(`Dispute ${dispute.id} is a chargeback: close it with status won or lost.`, {
          param: "status",
        });
      }
      const status = inquiry ? "warning_closed" : (input.status as "won" | "lost");
      const reinstated = status === "won" && dispute.balance_transactions.length > 0;
      const created = nowSeconds();
      const closed: Stripe.Dispute = {
        ...dispute,
        status,
        balance_transactions: reinstated
          ? [
              ...dispute.balance_transactions,
              buildDisputeBalanceTransaction({
                id: newId.balanceTransaction(),
                created,
                dispute,
                chargeId: idOf(dispute.charge) ?? "",
                direction: "reinstatement",
              }),
            ]
          : dispute.balance_transactions,
      };
      store.putObject(closed, idOf(dispute.charge));
      emit("charge.dispute.closed", closed, CUSTOMER_ACTION, { status: dispute.status });
      if (reinstated) emit("charge.dispute.funds_reinstated", closed, CUSTOMER_ACTION);
      return closed;
    });
  }

  return { createDispute, closeDispute };
}
