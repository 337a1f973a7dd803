import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { grant } from "../../app/services/money/ledger.server";
import { closeDatabase, openMigratedDatabase } from "../../db/client.server";
import { migratePgDatabase, openPgDatabase } from "../../db/pg-client.server";
import { startPostgres, type PgServer } from "../support/postgres";
import { verifyServerLedger } from "../support/server-ledger";
import { withServerSql } from "../support/server-sql";

// verifyServerLedger (the app's verifier on a copy of the server's rows) sees what the verifier
// sees on the database itself, on both engines: a clean ledger is clean, a tampered one is not.

let postgres: Promise<PgServer> | null = null;
const dirs: string[] = [];

type Target = { dataDir: string; databaseUrl: string | null };
const TARGETS: Array<{ name: string; open(): Promise<Target> }> = [
  {
    name: "SQLite",
    async open() {
      const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "server-ledger-"));
      dirs.push(dataDir);
      closeDatabase(openMigratedDatabase(path.join(dataDir, "app.sqlite")));
      return { dataDir, databaseUrl: null };
    },
  },
  {
    name: "PostgreSQL",
    async open() {
      postgres ??= startPostgres();
      const databaseUrl = await (await postgres).createDatabase();
      const db = openPgDatabase(databaseUrl, { max: 2 });
      await migratePgDatabase(db);
      await db.pool.end();
      return { dataDir: fs.mkdtempSync(path.join(os.tmpdir(), "server-ledger-pg-")), databaseUrl };
    },
  },
];

afterAll(async () => {
  if (postgres) await (await postgres).stop();
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

describe.each(TARGETS)("verifyServerLedger on $name", (target) => {
  it("finds nothing on a clean ledger, and a balance that disagrees with its rows once tampered", async () => {
    const server = await target.open();
    const userId = await withServerSql(server, async (sql) => {
      const row = await sql.write((tx) => tx.get<{ id: number }>("INSERT INTO users (email, password_hash) VALUES ('a@example.com', 'x') RETURNING id"));
      await grant(sql, { userId: row!.id, amount: 40, type: "bonus", key: `test:${row!.id}`, description: "test credits" });
      return row!.id;
    });
    const clean = await verifyServerLedger(server, { sweepGraceMs: 60_000 });
    expect(clean).toMatchObject({ users: 1, transactions: 1, pendingHolds: 0, violations: [] });

    await withServerSql(server, (sql) => sql.run("UPDATE users SET credits = credits + 1 WHERE id = ?", [userId]));
    const tampered = await verifyServerLedger(server, { sweepGraceMs: 60_000 });
    expect(tampered.violations.map((v) => v.kind)).toEqual(expect.arrayContaining(["balance_mismatch", "grant_mismatch"]));
  });
});
