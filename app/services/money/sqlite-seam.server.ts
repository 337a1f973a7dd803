/**
 * Seams of decision 036's port: a ported service (taking PortableDb) that still calls a module
 * whose owner has not moved it onto the executor yet (it takes the SQLite AppDb and reaches for
 * `db.orm`). On SQLite the app's database is that AppDb, so the call runs as before (inside the
 * caller's write body: same connection); on PostgreSQL there is no AppDb, and the call is refused
 * with a message naming what is missing instead of failing somewhere in drizzle. Each use goes
 * once its callee takes PortableDb / SqlTarget.
 */
import type { AppDb, PortableDb } from "#db/client.server";

export class NotOnExecutorError extends Error {}

export function sqliteOnly(db: PortableDb, what: string): AppDb {
  if ("orm" in db && "sqlite" in db) return db as AppDb;
  throw new NotOnExecutorError(`${what} is not on the executor yet (it still takes the SQLite AppDb), so it cannot run on ${db.sql.dialect}`);
}

/** The same for a `{ db, … }` bundle of dependencies. */
export function sqliteDeps<T extends { db: PortableDb }>(deps: T, what: string): Omit<T, "db"> & { db: AppDb } {
  return { ...deps, db: sqliteOnly(deps.db, what) };
}
