import { closeDatabase, openMigratedDatabase } from "../../db/client.server";
import { verifyLedger, type LedgerReport, type VerifyOptions } from "../../app/services/money/ledger-verify.server";
import type { RunningServer } from "./server";
import { withServerSql } from "./server-sql";

/** What the ledger verifier reads (ledger-verify.server.ts, ledger-verify-grants.server.ts). */
const LEDGER_TABLES: Record<string, string> = {
  users: "id",
  api_keys: "id",
  transactions: "id",
  credit_grants: "id",
  grant_draws: "tx_id, grant_id",
};

/**
 * The app's own ledger verifier (verifyLedger) on the running server's rows, whichever engine it
 * runs on: the verifier's tables are read through the portable executor in one transaction (one
 * snapshot: REPEATABLE READ on PostgreSQL, the write lock on SQLite), copied as they are into a
 * scratch in-memory SQLite (migrated, foreign keys and triggers off, so nothing is changed or
 * refused on the way), and verifyLedger runs on that copy. So HTTP suites ask the same invariants
 * of both engines without reaching for the server's SQLite file (tests/on-postgres.txt).
 */
export async function verifyServerLedger(server: Pick<RunningServer, "dataDir" | "databaseUrl">, options: VerifyOptions): Promise<LedgerReport> {
  const tables = await withServerSql(server, (sql) =>
    sql.write(async (tx) => {
      if (sql.dialect === "postgres") await tx.run("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ");
      const rows: Record<string, Array<Record<string, unknown>>> = {};
      for (const [table, order] of Object.entries(LEDGER_TABLES)) rows[table] = await tx.all(`SELECT * FROM ${table} ORDER BY ${order}`);
      return rows;
    }),
  );
  const scratch = openMigratedDatabase(":memory:");
  try {
    const { sqlite } = scratch;
    sqlite.pragma("foreign_keys = OFF");
    for (const { name } of sqlite.prepare("SELECT name FROM sqlite_master WHERE type = 'trigger'").all() as Array<{ name: string }>) {
      sqlite.exec(`DROP TRIGGER "${name}"`);
    }
    sqlite.transaction(() => {
      for (const [table, rows] of Object.entries(tables)) {
        const columns = (sqlite.prepare(`PRAGMA table_info(${table})`).all() as Array<{ name: string }>).map((c) => c.name);
        for (const row of rows) {
          const missing = columns.filter((c) => !(c in row));
          if (missing.length) throw new Error(`${table} row without ${missing.join(", ")}: the engines' schemas differ`);
          sqlite.prepare(`INSERT INTO ${table} (${columns.map((c) => `"${c}"`).join(", ")}) VALUES (${columns.map(() => "?").join(", ")})`).run(...columns.map((c) => row[c]));
        }
      }
    })();
    return verifyLedger(scratch, options);
  } finally {
    closeDatabase(scratch);
  }
}
