/**
 * npm run ledger:verify — checks the ledger's invariants against the app's database.
 * Safe on a live database: read-only, one consistent snapshot (WAL on SQLite; a REPEATABLE READ,
 * READ ONLY transaction on PostgreSQL, copied page by page into a scratch file the same verifier
 * reads: ledger-verify-snapshot.server.ts). Exits 1 on any violation, 2 on a usage error.
 *
 *   DATABASE_PATH=/data/app.sqlite npm run ledger:verify
 *   DATABASE_URL=postgres://… npm run ledger:verify
 *   LEDGER_SWEEP_GRACE_MS=600000 (default 10 minutes): how late the sweeper may be before a
 *   pending hold past its timeout counts as a violation.
 */
import fs from "node:fs";
import path from "node:path";
import { closeDatabase, openDatabase } from "../db/client.server";
import { verifyLedger, type LedgerReport, type Violation } from "../app/services/money/ledger-verify.server";
import { databaseTargetFor } from "./database-target";

async function main(): Promise<number> {
  const target = databaseTargetFor("ledger:verify");
  if (!target) return 2;
  const sweepGraceMs = Number(process.env.LEDGER_SWEEP_GRACE_MS ?? 10 * 60_000);
  if (!Number.isFinite(sweepGraceMs) || sweepGraceMs < 0) {
    console.error(`ledger:verify: LEDGER_SWEEP_GRACE_MS must be a number of milliseconds >= 0, got ${process.env.LEDGER_SWEEP_GRACE_MS}`);
    return 2;
  }
  const started = performance.now();
  const checked = target.dialect === "postgres" ? await verifyPostgres(target.url, sweepGraceMs) : verifySqlite(path.resolve(target.path), sweepGraceMs);
  if (!checked) return 2;
  const { report, shown } = checked;
  const ms = Math.round(performance.now() - started);
  console.log(`ledger:verify ${shown}`);
  console.log(
    `  ${report.users} users, ${report.transactions} transactions, ${report.pendingHolds} pending holds, checked in ${ms} ms`,
  );
  if (report.violations.length === 0) {
    console.log("  OK: no violation");
    return 0;
  }
  const byKind = new Map<string, number>();
  for (const v of report.violations) byKind.set(v.kind, (byKind.get(v.kind) ?? 0) + 1);
  console.log(`  ${report.violations.length} violation(s): ${[...byKind].map(([k, n]) => `${k} ${n}`).join(", ")}`);
  for (const v of report.violations.slice(0, 50)) console.log(`  - ${describe(v)}`);
  if (report.violations.length > 50) console.log(`  ... and ${report.violations.length - 50} more`);
  return 1;
}

function verifySqlite(file: string, sweepGraceMs: number): { report: LedgerReport; shown: string } | null {
  if (!fs.existsSync(file)) {
    console.error(`ledger:verify: no database at ${file} (set DATABASE_PATH or DATA_DIR)`);
    return null;
  }
  const db = openDatabase(file, { readonly: true });
  try {
    return { report: verifyLedger(db, { sweepGraceMs, integrity: true }), shown: file };
  } finally {
    closeDatabase(db);
  }
}

async function verifyPostgres(url: string, sweepGraceMs: number): Promise<{ report: LedgerReport; shown: string }> {
  // Loaded only here: an operator on SQLite never needs node-postgres.
  const { openPgDatabase, redactDatabaseUrl } = await import("../db/pg-client.server");
  const { pgSql } = await import("../db/sql.server");
  const { verifyLedgerSnapshot } = await import("../app/services/money/ledger-verify-snapshot.server");
  const sql = pgSql(openPgDatabase(url, { max: 1 }).pool);
  try {
    return { report: await verifyLedgerSnapshot(sql, { sweepGraceMs }), shown: redactDatabaseUrl(url) };
  } finally {
    await sql.close();
  }
}

function describe(v: Violation): string {
  const where = [v.userId != null ? `user ${v.userId}` : "", v.transactionId != null ? `tx ${v.transactionId}` : ""]
    .filter(Boolean)
    .join(" ");
  return `${v.kind}${where ? ` (${where})` : ""}: ${v.detail}`;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error("ledger:verify failed:", error);
    process.exitCode = 2;
  },
);
