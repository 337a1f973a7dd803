import { createHash, randomBytes } from "node:crypto";

const ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/** `length` random base-62 characters. */
function randomToken(length: number): string {
  let out = "";
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      // 248 = 4 * 62: skip the tail so every character is equally likely.
      if (byte < 248) out += ALPHABET[byte % 62];
      if (out.length === length) break;
    }
  }
  return out;
}

/** Ids shaped like Stripe's test-mode ids: the usual prefix and body length. */
export const newId = {
  customer: () => `cus_${randomToken(14)}`,
  checkoutSession: () => `cs_test_${randomToken(58)}`,
  lineItem: () => `li_${randomToken(24)}`,
  paymentIntent: () => `pi_${randomToken(24)}`,
  paymentMethod: () => `pm_${randomToken(24)}`,
  setupIntent: () => `seti_${randomToken(24)}`,
  charge: () => `ch_${randomToken(24)}`,
  refund: () => `re_${randomToken(24)}`,
  dispute: () => `dp_${randomToken(24)}`,
  balanceTransaction: () => `txn_${randomToken(24)}`,
  subscription: () => `sub_${randomToken(24)}`,
  subscriptionItem: () => `si_${randomToken(14)}`,
  invoice: () => `in_${randomToken(24)}`,
  invoiceLine: () => `il_${randomToken(24)}`,
  invoicePayment: () => `inpay_${randomToken(24)}`,
  portalSession: () => `bps_${randomToken(24)}`,
  event: () => `evt_${randomToken(24)}`,
  request: () => `req_${randomToken(14)}`,
  secret: () => randomToken(24),
  fingerprint: () => randomToken(16),
  invoicePrefix: () => randomBytes(4).toString("hex").toUpperCase(),
};

/** A stable id derived from another one (the product behind a configured price). */
export function derivedId(prefix: string, from: string): string {
  const digest = createHash("sha256").update(from).digest();
  let out = "";
  for (const byte of digest) {
    if (out.length === 14) break;
    out += ALPHABET[byte % 62];
  }
  return `${prefix}${out}`;
}
