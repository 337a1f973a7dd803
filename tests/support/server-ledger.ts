import { verifyLedgerSnapshot } from "../../app/services/money/ledger-verify-snapshot.server";
import type { LedgerReport, VerifyOptions } from "../../app/services/money/ledger-verify.server";
import type { RunningServer } from "./server";
import { withServerSql } from "./server-sql";

/**
 * The app's own ledger verifier on the running server's rows, whichever engine it runs on: the
 * same snapshot copy `npm run ledger:verify` makes on PostgreSQL (ledger-verify-snapshot.server.ts),
 * so HTTP suites ask the same invariants of both engines without reaching for the server's SQLite
 * file (tests/on-postgres.txt).
 */
export async function verifyServerLedger(server: Pick<RunningServer, "dataDir" | "databaseUrl">, options: VerifyOptions): Promise<LedgerReport> {
  const { integrity: _integrity, ...rest } = options;
  return withServerSql(server, (sql) => verifyLedgerSnapshot(sql, rest));
}
