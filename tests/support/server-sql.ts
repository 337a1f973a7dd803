import path from "node:path";
import { openPgDatabase } from "../../db/pg-client.server";
import { openSqliteSql, pgSql, type SqlDb } from "../../db/sql.server";
import type { RunningServer } from "./server";

/**
 * The running server's database through the portable executor, whichever engine it runs on
 * (its SQLite file in WAL, safe beside it; or its PostgreSQL database): for set-up and checks in
 * HTTP suites that run on both engines. Closed when `fn` settles.
 */
export async function withServerSql<T>(server: Pick<RunningServer, "dataDir" | "databaseUrl">, fn: (sql: SqlDb) => Promise<T>): Promise<T> {
  const sql = openServerSql(server);
  try {
    return await fn(sql);
  } finally {
    await sql.close();
  }
}

/** The same, kept open across a file's tests (close it in afterAll). */
export function openServerSql(server: Pick<RunningServer, "dataDir" | "databaseUrl">): SqlDb {
  return server.databaseUrl ? pgSql(openPgDatabase(server.databaseUrl, { max: 4 }).pool) : openSqliteSql(path.join(server.dataDir, "app.sqlite"));
}
