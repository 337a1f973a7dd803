import type Stripe from "stripe";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { startHarness, type Harness } from "../../tests/support/emulator-harness";

// Stripe's two kinds of dispute and the events each sends: an inquiry moves no money, a
// chargeback withdraws the amount at once and gives it back only if the merchant wins.

let h: Harness;

beforeEach(async () => {
  h = await startHarness();
});

afterEach(async () => {
  await h.close();
});

async function paidChargeId(): Promise<string> {
  const session = await h.paySession();
  const paymentIntent = await h.stripe.paymentIntents.retrieve(session.payment_intent as string);
  return paymentIntent.latest_charge as string;
}

async function driverJson<T>(path: string, body: unknown, status = 200): Promise<T> {
  const response = await h.driver(path, body);
  const json = (await response.json()) as T;
  expect(response.status, JSON.stringify(json)).toBe(status);
  return json;
}

/** Dispute events in the order the emulator recorded them, with the dispute's status in each. */
async function disputeEvents(): Promise<Array<{ type: string; status: string; transactions: number }>> {
  await h.emulator.waitForDeliveries();
  const { data } = await driverJson<{ data: Array<{ event: Stripe.Event }> }>("/events?limit=100", undefined);
  return data
    .map(({ event }) => event)
    .filter((event) => event.type.startsWith("charge.dispute."))
    .reverse()
    .map((event) => {
      const dispute = event.data.object as Stripe.Dispute;
      return { type: event.type, status: dispute.status, transactions: dispute.balance_transactions.length };
    });
}

describe("an inquiry", () => {
  test("opens as warning_needs_response with no funds withdrawn, and closes as warning_closed", async () => {
    const chargeId = await paidChargeId();
    const dispute = await driverJson<Stripe.Dispute>(`/charges/${chargeId}/disputes`, { inquiry: true, reason: "general" });
    expect(dispute).toMatchObject({
      object: "dispute",
      status: "warning_needs_response",
      reason: "general",
      amount: 1000,
      currency: "usd",
      charge: chargeId,
      balance_transactions: [],
      is_charge_refundable: true,
      payment_method_details: { type: "card", card: { case_type: "inquiry" } },
    });
    expect(dispute.evidence_details.due_by).toBeGreaterThan(dispute.created);
    expect(await h.stripe.disputes.retrieve(dispute.id)).toEqual(dispute);
    expect(await disputeEvents()).toEqual([{ type: "charge.dispute.created", status: "warning_needs_response", transactions: 0 }]);

    // An inquiry is not a chargeback: it cannot be won or lost.
    const won = await h.driver(`/disputes/${dispute.id}/close`, { status: "won" });
    expect(won.status).toBe(400);

    const closed = await driverJson<Stripe.Dispute>(`/disputes/${dispute.id}/close`, {});
    expect(closed).toMatchObject({ id: dispute.id, status: "warning_closed", balance_transactions: [] });
    expect(await disputeEvents()).toEqual([
      { type: "charge.dispute.created", status: "warning_needs_response", transactions: 0 },
      { type: "charge.dispute.closed", status: "warning_closed", transactions: 0 },
    ]);
    const [closedEvent] = h.receiver.eventsOfType("charge.dispute.closed");
    expect(closedEvent.data.previous_attributes).toEqual({ status: "warning_needs_response" });
  });

  test("leaves the charge refundable", async () => {
    const chargeId = await paidChargeId();
    await driverJson(`/charges/${chargeId}/disputes`, { inquiry: true });
    const refund = await h.stripe.refunds.create({ charge: chargeId });
    expect(refund).toMatchObject({ status: "succeeded", amount: 1000 });
  });
});

describe("a chargeback", () => {
  test("withdraws the funds at once: created, then funds_withdrawn, with the withdrawal's balance transaction", async () => {
    const chargeId = await paidChargeId();
    const dispute = await driverJson<Stripe.Dispute>(`/charges/${chargeId}/disputes`, { amount: 600 });
    expect(dispute).toMatchObject({
      status: "needs_response",
      amount: 600,
      is_charge_refundable: false,
      payment_method_details: { card: { case_type: "chargeback" } },
    });
    expect(dispute.balance_transactions).toHaveLength(1);
    const [withdrawal] = dispute.balance_transactions;
    expect(withdrawal.id).toMatch(/^txn_\w{24}$/);
    expect(withdrawal).toMatchObject({
      object: "balance_transaction",
      amount: -600,
      net: -600,
      currency: "usd",
      type: "adjustment",
      reporting_category: "dispute",
      source: dispute.id,
    });
    expect(await disputeEvents()).toEqual([
      { type: "charge.dispute.created", status: "needs_response", transactions: 1 },
      { type: "charge.dispute.funds_withdrawn", status: "needs_response", transactions: 1 },
    ]);
  });

  test("won: closed (won), then funds_reinstated, with the reversal's balance transaction", async () => {
    const chargeId = await paidChargeId();
    const dispute = await driverJson<Stripe.Dispute>(`/charges/${chargeId}/disputes`, {});

    const closed = await driverJson<Stripe.Dispute>(`/disputes/${dispute.id}/close`, { status: "won" });
    expect(closed.status).toBe("won");
    expect(closed.balance_transactions.map((txn) => [txn.amount, txn.reporting_category])).toEqual([
      [-1000, "dispute"],
      [1000, "dispute_reversal"],
    ]);
    expect(await h.stripe.disputes.retrieve(dispute.id)).toEqual(closed);
    expect(await disputeEvents()).toEqual([
      { type: "charge.dispute.created", status: "needs_response", transactions: 1 },
      { type: "charge.dispute.funds_withdrawn", status: "needs_response", transactions: 1 },
      { type: "charge.dispute.closed", status: "won", transactions: 2 },
      { type: "charge.dispute.funds_reinstated", status: "won", transactions: 2 },
    ]);
  });

  test("lost: closed (lost) and the funds stay withdrawn", async () => {
    const chargeId = await paidChargeId();
    const dispute = await driverJson<Stripe.Dispute>(`/charges/${chargeId}/disputes`, {});

    const closed = await driverJson<Stripe.Dispute>(`/disputes/${dispute.id}/close`, { status: "lost" });
    expect(closed).toMatchObject({ status: "lost" });
    expect(closed.balance_transactions.map((txn) => txn.amount)).toEqual([-1000]);
    expect((await disputeEvents()).map((event) => event.type)).toEqual([
      "charge.dispute.created",
      "charge.dispute.funds_withdrawn",
      "charge.dispute.closed",
    ]);
  });

  test("needs a decision to close, and closes once", async () => {
    const chargeId = await paidChargeId();
    const dispute = await driverJson<Stripe.Dispute>(`/charges/${chargeId}/disputes`, {});

    const undecided = await h.driver(`/disputes/${dispute.id}/close`, {});
    expect(undecided.status).toBe(400);
    expect(await undecided.json()).toMatchObject({ error: { param: "status" } });

    await driverJson(`/disputes/${dispute.id}/close`, { status: "lost" });
    expect((await h.driver(`/disputes/${dispute.id}/close`, { status: "won" })).status).toBe(400);
    expect((await disputeEvents()).filter((event) => event.type === "charge.dispute.closed")).toHaveLength(1);
  });
});
