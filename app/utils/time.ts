/** One UTC day in milliseconds: reports group ledger rows by `created_at / DAY_MS`. */
export const DAY_MS = 86_400_000;

/** The UTC day (YYYY-MM-DD) of a day number as reports count them. */
export function dayLabel(dayNumber: number): string {
  return new Date(dayNumber * DAY_MS).toISOString().slice(0, 10);
}
