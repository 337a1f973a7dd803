import type Stripe from "stripe";
import { idOf, type AccountCore, type RequestContext } from "./account-core.server";
import { invalidRequest } from "./errors.server";
import { newId } from "./ids.server";
import { formatAmount } from "./money.server";
import { buildRefund } from "./objects.server";
import type { RefundCreateParams } from "./params.server";

/** Refunds, full and partial, by PaymentIntent or by Charge, with Stripe's refusals. */

export function createRefunds(core: AccountCore) {
  const { store, emit, retrieve, lookup, nowSeconds } = core;

  function createRefund(params: RefundCreateParams, context: RequestContext): Stripe.Refund {
    if (!params.charge && !params.payment_intent) {
      throw invalidRequest("One of the following params should be provided for this request: payment_intent or charge.", {
        param: "payment_intent",
        code: "parameter_missing",
      });
    }
    return store.transaction(() => {
      let charge: Stripe.Charge | null = null;
      const param = params.payment_intent ? "payment_intent" : "charge";
      if (params.payment_intent) {
        const paymentIntent = lookup("payment_intent", params.payment_intent, "payment_intent");
        const chargeId = idOf(paymentIntent.latest_charge);
        charge = chargeId ? retrieve("charge", chargeId) : null;
        if (!charge || paymentIntent.status !== "succeeded") {
          throw invalidRequest(
            `This PaymentIntent (${paymentIntent.id}) does not have a successful charge to refund.`,
            { param, code: "charge_not_refundable" },
          );
        }
      }
      if (params.charge) {
        const named = lookup("charge", params.charge, "charge");
        if (charge && charge.id !== named.id) {
          throw invalidRequest(`Charge ${named.id} does not belong to PaymentIntent ${params.payment_intent}.`, {
            param: "charge",
          });
        }
        charge = named;
      }
      if (!charge) throw new Error("unreachable: a charge or payment_intent was required");
      if (charge.status !== "succeeded") {
        throw invalidRequest(`Charge ${charge.id} has not succeeded and cannot be refunded (status: ${charge.status}).`, {
          param,
          code: "charge_not_refundable",
        });
      }
      const blockingDispute = store
        .listChildren("dispute", charge.id)
        .find((dispute) => !dispute.is_charge_refundable && dispute.status !== "won");
      if (blockingDispute) {
        throw invalidRequest(`Charge ${charge.id} has been charged back; cannot issue a refund.`, {
          param,
          code: "charge_disputed",
        });
      }
      const remaining = charge.amount - charge.amount_refunded;
      if (remaining <= 0) {
        throw invalidRequest(`Charge ${charge.id} has already been refunded.`, { param, code: "charge_already_refunded" });
      }
      const amount = params.amount ?? remaining;
      if (amount > remaining) {
        throw invalidRequest(
          `Refund amount (${formatAmount(amount, charge.currency)}) is greater than unrefunded amount on charge (${formatAmount(remaining, charge.currency)})`,
          { param: "amount", code: "amount_too_large" },
        );
      }
      const refund = buildRefund({
        id: newId.refund(),
        created: nowSeconds(),
        amount,
        charge,
        reason: params.reason ?? null,
        metadata: params.metadata ?? {},
      });
      const refundedCharge: Stripe.Charge = {
        ...charge,
        amount_refunded: charge.amount_refunded + amount,
        refunded: charge.amount_refunded + amount === charge.amount,
      };
      store.putObject(refund, charge.id);
      store.putObject(refundedCharge, idOf(charge.payment_intent));
      emit("charge.refunded", refundedCharge, context, {
        amount_refunded: charge.amount_refunded,
        refunded: charge.refunded,
      });
      emit("refund.created", refund, context);
      return refund;
    });
  }

  function listRefunds(chargeId: string): Stripe.Refund[] {
    return store.listChildren("refund", chargeId);
  }

  return { createRefund, listRefunds };
}
