/**
 * npm run ledger:verify — checks the ledger's invariants against the app's database.
 * Safe on a live database: read-only, one consistent snapshot (WAL). Exits 1 on any violation.
 *
 *   DATABASE_PATH=/data/app.sqlite npm run ledger:verify
 *   LEDGER_SWEEP_GRACE_MS=600000 (default 10 minutes): how late the sweeper may be before a
 *   pending hold past its timeout counts as a violation.
 */
import fs from "node:fs";
import path from "node:path";
import { closeDatabase, openDatabase } from "../db/client.server";
import { verifyLedger, type Violation } from "../app/services/money/ledger-verify.server";
import { refusedOnPostgres } from "./sqlite-only";

function databasePath(): string {
  if (process.env.DATABASE_PATH) return process.env.DATABASE_PATH;
  return path.join(process.env.DATA_DIR ?? "./data", "app.sqlite");
}

function main(): number {
  if (refusedOnPostgres("ledger:verify", "the PostgreSQL verifier is not written yet")) return 2;
  const file = path.resolve(databasePath());
  if (!fs.existsSync(file)) {
    console.error(`ledger:verify: no database at ${file} (set DATABASE_PATH or DATA_DIR)`);
    return 2;
  }
  const sweepGraceMs = Number(process.env.LEDGER_SWEEP_GRACE_MS ?? 10 * 60_000);
  if (!Number.isFinite(sweepGraceMs) || sweepGraceMs < 0) {
    console.error(`ledger:verify: LEDGER_SWEEP_GRACE_MS must be a number of milliseconds >= 0, got ${process.env.LEDGER_SWEEP_GRACE_MS}`);
    return 2;
  }
  const db = openDatabase(file, { readonly: true });
  try {
    const started = performance.now();
    const report = verifyLedger(db, { sweepGraceMs, integrity: true });
    const ms = Math.round(performance.now() - started);
    console.log(`ledger:verify ${file}`);
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
  } finally {
    closeDatabase(db);
  }
}

function describe(v: Violation): string {
  const where = [v.userId != null ? `user ${v.userId}` : "", v.transactionId != null ? `tx ${v.transactionId}` : ""]
    .filter(Boolean)
    .join(" ");
  return `${v.kind}${where ? ` (${where})` : ""}: ${v.detail}`;
}

try {
  process.exitCode = main();
} catch (error) {
  console.error("ledger:verify failed:", error);
  process.exitCode = 2;
}
