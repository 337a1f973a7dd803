/**
 * For a command that works on the SQLite file only (decision 034; db:backup and db:restore have a
 * PostgreSQL path since decision 040). With DATABASE_URL set it refuses, rather than check a file
 * that may no longer be the app's database while the operator believes PostgreSQL was covered.
 */
export function refusedOnPostgres(command: string, instead: string): boolean {
  if (!process.env.DATABASE_URL?.trim()) return false;
  console.error(`${command}: DATABASE_URL is set, but ${command} works on the SQLite file only: ${instead}, or unset DATABASE_URL to work on the SQLite file`);
  return true;
}
