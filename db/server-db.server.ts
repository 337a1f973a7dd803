/**
 * The database a server (or a script that runs the services) works on: the SQLite file by
 * default, PostgreSQL when DATABASE_URL is set (issue 18, decision 036). Both answer the same
 * portable executor (`sql`); what stays engine-bound (the SQLite file's backup, its WAL
 * checkpoint) reaches for `file`, which is null on PostgreSQL.
 */
import { closeDatabase, migrateDatabase, openDatabase, type AppDb, type PortableDb } from "./client.server";
import { migratePgDatabase, openPgDatabase, redactDatabaseUrl } from "./pg-client.server";
import { pgSql } from "./sql.server";

export type ServerDb = PortableDb & {
  /** The SQLite file, for what only SQLite has (its file backup); null on PostgreSQL. */
  readonly file: AppDb | null;
  /** Where the data is, for logs and errors: the file's path, or the URL with its password masked. */
  readonly shown: string;
  isOpen(): boolean;
  /** Finishes the writes already queued, then closes (checkpointing the SQLite file's WAL). */
  close(): Promise<void>;
};

export type ServerDbTarget =
  | { dialect: "sqlite"; path: string; busyTimeoutMs?: number }
  | { dialect: "postgres"; url: string; poolMax?: number };

/** Wraps an open SQLite file (tests and scripts that already hold one). */
export function sqliteServerDb(file: AppDb): ServerDb {
  let closed = false;
  return {
    sql: file.sql,
    file,
    shown: file.path,
    isOpen: () => !closed && file.sqlite.open,
    async close() {
      if (closed) return;
      closed = true;
      await file.sql.close();
      closeDatabase(file);
    },
  };
}

function passwordOf(url: string): string {
  try {
    return decodeURIComponent(new URL(url).password);
  } catch {
    return "";
  }
}

/** The database could not be opened or migrated; the message names it without its password. */
export class DatabaseOpenError extends Error {}

/**
 * Opens and migrates the database. On PostgreSQL several instances may start at once on one
 * empty database: migratePgDatabase holds an advisory lock, so one applies and the others wait.
 * Answers the migrations this call applied.
 */
export async function openServerDatabase(target: ServerDbTarget): Promise<{ db: ServerDb; applied: string[] }> {
  if (target.dialect === "sqlite") {
    const file = openDatabase(target.path, { busyTimeoutMs: target.busyTimeoutMs });
    try {
      return { db: sqliteServerDb(file), applied: migrateDatabase(file) };
    } catch (error) {
      closeDatabase(file);
      throw error;
    }
  }
  const shown = redactDatabaseUrl(target.url);
  const pgDb = openPgDatabase(target.url, { max: target.poolMax });
  let applied: string[];
  try {
    applied = await migratePgDatabase(pgDb);
  } catch (error) {
    await pgDb.pool.end().catch(() => undefined);
    // node-postgres may quote the connection string (password included) in its message.
    let reason = (error instanceof Error ? error.message : String(error)).split(target.url).join(shown);
    const password = passwordOf(target.url);
    if (password.length >= 4) reason = reason.split(password).join("***");
    throw new DatabaseOpenError(`cannot open the database at ${shown} (DATABASE_URL): ${reason}`, { cause: error });
  }
  const sql = pgSql(pgDb.pool);
  let closed = false;
  return {
    applied,
    db: {
      sql,
      file: null,
      shown,
      isOpen: () => !closed,
      async close() {
        if (closed) return;
        closed = true;
        await sql.close();
      },
    },
  };
}
