import type { PortableDb } from "#db/client.server";
import type { SqlDb, SqlRunner } from "#db/sql.server";

/**
 * Where a ported service's statement runs (decision 036): the app's database or an executor (a
 * transaction of its own for a write), or the `tx` of a caller's write body (inside that
 * transaction, so a read sees the body's own rows and a write commits or rolls back with it).
 */
export type SqlTarget = PortableDb | SqlDb | SqlRunner;

/** The runner for reads: a body's `tx` as it is, else the executor (committed rows). */
export function readerOf(target: SqlTarget): SqlRunner {
  return "sql" in target ? target.sql : target;
}

/** Runs `body` in the caller's transaction when given its `tx`, else in a write of its own. */
export function inWrite<T>(target: SqlTarget, body: (tx: SqlRunner) => Promise<T>): Promise<T> {
  if ("sql" in target) return target.sql.write(body);
  if ("write" in target) return target.write(body);
  return body(target);
}

/** A UNIQUE constraint refused the statement (SQLite's extended code, PostgreSQL's 23505). */
export function isUniqueViolation(error: unknown): boolean {
  for (let e = error, depth = 0; e && typeof e === "object" && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (code === "SQLITE_CONSTRAINT_UNIQUE" || code === "23505") return true;
  }
  return false;
}
