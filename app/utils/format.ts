/** Money as people read it, from Stripe's minor units ("1299", "usd" → "$12.99"). An unknown
 * currency code shows the raw figure rather than throwing. Shared by the server and the pages. */
export function formatMoney(minor: number, currency: string): string {
  try {
    return new Intl.NumberFormat("en-US", { style: "currency", currency: currency.toUpperCase() }).format(minor / 100);
  } catch {
    return `${minor} ${currency}`;
  }
}

/** How often a recurring price is billed, after its amount: "month", "3 months". */
export function formatInterval(interval: string | null, count: number | null): string {
  if (!interval) return "";
  const n = count ?? 1;
  return n === 1 ? interval : `${n} ${interval}s`;
}
