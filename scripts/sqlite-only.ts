/**
 * db:backup, db:restore and ledger:verify work on the SQLite file only (decision 034). With
 * DATABASE_URL set they refuse, rather than back up, restore or check a file that may no longer
 * be the app's database while the operator believes PostgreSQL was covered.
 */
export function refusedOnPostgres(command: string, instead: string): boolean {
  if (!process.env.DATABASE_URL?.trim()) return false;
  console.error(`${command}: DATABASE_URL is set, but ${command} works on the SQLite file only: ${instead}, or unset DATABASE_URL to work on the SQLite file`);
  return true;
}
