import type Database from "better-sqlite3";
import type { AppDb } from "./client.server";

// Hot queries are built (drizzle) and prepared (SQLite) once per connection instead of on every
// call: a profile of POST /api/generate-image showed query building and preparing as a fifth of
// the request's CPU time. Keyed by the raw connection, so a test's database gets its own set.

const cache = new WeakMap<Database.Database, Map<string, unknown>>();

export function prepared<T>(db: AppDb, key: string, build: (db: AppDb) => T): T {
  let statements = cache.get(db.sqlite);
  if (!statements) {
    statements = new Map();
    cache.set(db.sqlite, statements);
  }
  let statement = statements.get(key) as T | undefined;
  if (statement === undefined) {
    statement = build(db);
    statements.set(key, statement);
  }
  return statement;
}

/**
 * A module's set of raw SQLite statements, prepared on first use of each connection:
 * `const stmts = perConnection((sqlite) => ({ byId: sqlite.prepare(...) }))`, then `stmts(db).byId`.
 */
export function perConnection<T>(prepare: (sqlite: Database.Database) => T): (db: AppDb) => T {
  const sets = new WeakMap<Database.Database, T>();
  return (db) => {
    let set = sets.get(db.sqlite);
    if (set === undefined) {
      set = prepare(db.sqlite);
      sets.set(db.sqlite, set);
    }
    return set;
  };
}
