/** One UTC day in milliseconds: reports group ledger rows by `created_at / DAY_MS`. */
export const DAY_MS = 86_400_000;

/** The UTC day (YYYY-MM-DD) of a day number as reports count them. */
export function dayLabel(dayNumber: number): string {
  return new Date(dayNumber * DAY_MS).toISOString().slice(0, 10);
}

/** The first millisecond of the UTC calendar month that contains `ms`: where a key's monthly
 * credit limit starts counting again. */
export function utcMonthStart(ms: number): number {
  const d = new Date(ms);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
}
