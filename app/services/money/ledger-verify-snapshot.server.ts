/**
 * The ledger verifier on any engine: the tables it reads are copied, inside one read-only
 * REPEATABLE READ transaction on PostgreSQL (one snapshot, as the SQLite verifier's one read
 * transaction is), into a scratch SQLite file, and verifyLedger runs there. So the invariants have
 * one home (ledger-verify.server.ts, ledger-verify-grants.server.ts) and are asked of PostgreSQL
 * exactly as of SQLite. The copy pages by primary key (keyset, PAGE_ROWS at a time) into a file in
 * the temporary folder, so memory stays flat however long the history is; the file is removed
 * after. Why: docs/decisions/036-money-path-on-postgresql.md ("ledger:verify on PostgreSQL").
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { closeDatabase, openMigratedDatabase } from "#db/client.server";
import type { SqlDb, SqlRunner } from "#db/sql.server";
import { verifyLedger, type LedgerReport, type VerifyOptions } from "./ledger-verify.server";

/** What the verifier reads, each with its key for paging. */
const LEDGER_TABLES: ReadonlyArray<{ table: string; key: readonly string[] }> = [
  { table: "users", key: ["id"] },
  { table: "api_keys", key: ["id"] },
  { table: "transactions", key: ["id"] },
  { table: "credit_grants", key: ["id"] },
  { table: "grant_draws", key: ["tx_id", "grant_id"] },
];

const PAGE_ROWS = 5000;

type Row = Record<string, unknown>;

/** A value as SQLite stores it (the schemas keep booleans as 0/1 and JSON as text; this is for what a driver still hands out otherwise). */
function sqliteValue(value: unknown): unknown {
  if (typeof value === "boolean") return value ? 1 : 0;
  if (value instanceof Date) return value.getTime();
  if (value !== null && typeof value === "object") return JSON.stringify(value);
  return value;
}

async function copyTable(tx: SqlRunner, scratch: ReturnType<typeof openMigratedDatabase>, table: string, key: readonly string[], pageRows: number): Promise<number> {
  const { sqlite } = scratch;
  const columns = (sqlite.prepare(`PRAGMA table_info(${table})`).all() as Array<{ name: string }>).map((c) => c.name);
  const insert = sqlite.prepare(`INSERT INTO ${table} (${columns.map((c) => `"${c}"`).join(", ")}) VALUES (${columns.map(() => "?").join(", ")})`);
  const insertPage = sqlite.transaction((rows: Row[]) => {
    for (const row of rows) {
      const missing = columns.filter((c) => !(c in row));
      if (missing.length) throw new Error(`${table} row without ${missing.join(", ")}: the engines' schemas differ`);
      insert.run(...columns.map((c) => sqliteValue(row[c])));
    }
  });
  const order = key.join(", ");
  // Row-value comparison ((a, b) > (?, ?)) is the keyset step on both engines.
  const after = `(${order}) > (${key.map(() => "?").join(", ")})`;
  let last: unknown[] | null = null;
  let copied = 0;
  for (;;) {
    const rows: Row[] = await tx.all<Row>(
      `SELECT * FROM ${table}${last ? ` WHERE ${after}` : ""} ORDER BY ${order} LIMIT ${pageRows}`,
      last ?? [],
    );
    if (rows.length === 0) return copied;
    insertPage(rows);
    copied += rows.length;
    const tail = rows[rows.length - 1];
    last = key.map((k) => tail[k]);
    if (rows.length < pageRows) return copied;
  }
}

/**
 * verifyLedger on the database behind `sql` (meant for PostgreSQL; on SQLite call verifyLedger on
 * the file itself, which also runs its integrity checks). `integrity` is not asked of the copy:
 * PostgreSQL enforces its foreign keys itself, and a scratch file's quick_check says nothing about
 * the source.
 */
export async function verifyLedgerSnapshot(sql: SqlDb, options: Omit<VerifyOptions, "integrity"> & { pageRows?: number }): Promise<LedgerReport> {
  const pageRows = Math.max(1, Math.trunc(options.pageRows ?? PAGE_ROWS));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ledger-verify-"));
  const scratch = openMigratedDatabase(path.join(dir, "snapshot.sqlite"));
  try {
    const { sqlite } = scratch;
    // A scratch copy: nothing on the way is refused (foreign keys) or rewritten (triggers), and a
    // crash loses nothing worth an fsync.
    sqlite.pragma("foreign_keys = OFF");
    sqlite.pragma("synchronous = OFF");
    for (const { name } of sqlite.prepare("SELECT name FROM sqlite_master WHERE type = 'trigger'").all() as Array<{ name: string }>) {
      sqlite.exec(`DROP TRIGGER "${name}"`);
    }
    await sql.write(async (tx) => {
      if (sql.dialect === "postgres") await tx.run("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY");
      for (const { table, key } of LEDGER_TABLES) await copyTable(tx, scratch, table, key, pageRows);
    });
    return verifyLedger(scratch, options);
  } finally {
    closeDatabase(scratch);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
