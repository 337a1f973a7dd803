/** Money as people read it, from Stripe's minor units ("1299", "usd" → "$12.99"). An unknown
 * currency code shows the raw figure rather than throwing. Shared by the server and the pages. */
export function formatMoney(minor: number, currency: string): string {
  try {
    return new Intl.NumberFormat("en-US", { style: "currency", currency: currency.toUpperCase() }).format(minor / 100);
  } catch {
    return `${minor} ${currency}`;
  }
}
