/**
 * How a history row reads to the customer, written once for the history pages and the CSV
 * (billing-dashboard.server.ts, history-csv.server.ts): which rows are payments, and the status
 * a row shows. Pure: the callers read the rows and the credits taken back.
 */
import type { TransactionStatus, TransactionType } from "#db/schema";

/**
 * `refunded`: a hold that was voided (the credits came back), or a purchase whose payment was
 * refunded in full; `partly_refunded`: a purchase refunded in part.
 */
export type DisplayStatus = "pending" | "posted" | "refunded" | "partly_refunded";

/** Rows a Stripe payment bought: a Checkout purchase, or an auto-recharge top-up (decision 027). */
export const paidAtStripe = (type: TransactionType) => type === "purchase" || type === "topup";

/** Rows with a receipt: those, and a plan period's grant (its invoice's payment). A rollover grant
 * carries no payment id, so it has none. Kept apart from paidAtStripe: a plan's refund status is
 * not read from refund rows the way a pack's is. */
export const isPayment = (row: { type: TransactionType; stripePaymentId: string | null }) =>
  (paidAtStripe(row.type) || row.type === "plan") && row.stripePaymentId !== null;

/** `refunded`: credits already taken back from this row's payment (0 for rows that are not one). */
export function displayStatusOf(row: { type: TransactionType; status: TransactionStatus; amount: number }, refunded: number): DisplayStatus {
  if (row.status === "pending") return "pending";
  if (row.status === "voided") return "refunded";
  if (paidAtStripe(row.type) && refunded > 0) return refunded >= row.amount ? "refunded" : "partly_refunded";
  return "posted";
}
