/** Stripe fields such as `payment_intent` or `price` hold an id, or the object when expanded. */
export function stripeIdOf(value: string | { id: string } | null | undefined): string | null {
  if (!value) return null;
  return typeof value === "string" ? value : value.id;
}
