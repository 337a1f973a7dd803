import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { closeDatabase, openMigratedDatabase, type PortableDb } from "../../db/client.server";
import { migratePgDatabase, openPgDatabase } from "../../db/pg-client.server";
import { pgSql } from "../../db/sql.server";
import { startPostgres, type PgServer } from "./postgres";

/**
 * Both engines for a service test (decision 036): a migrated SQLite file, and a fresh database on
 * a throwaway PostgreSQL cluster (one cluster per test file, started on first use). Use with
 * `describe.each(ENGINES)("… on $name", (engine) => …)`, open a database in `beforeAll` (or per
 * test: both are cheap), and call `closeEngines()` in the file's `afterAll`.
 */
export type EngineDb = PortableDb & { readonly dialect: "sqlite" | "postgres"; close(): Promise<void> };
export type Engine = { name: "SQLite" | "PostgreSQL"; open(): Promise<EngineDb> };

let server: Promise<PgServer> | null = null;
const opened: EngineDb[] = [];
const dirs: string[] = [];

export const ENGINES: readonly Engine[] = [
  {
    name: "SQLite",
    async open() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "engine-sqlite-"));
      dirs.push(dir);
      const db = openMigratedDatabase(path.join(dir, "app.sqlite"));
      const engineDb: EngineDb = {
        sql: db.sql,
        dialect: "sqlite",
        async close() {
          closeDatabase(db);
        },
      };
      opened.push(engineDb);
      return engineDb;
    },
  },
  {
    name: "PostgreSQL",
    async open() {
      server ??= startPostgres();
      const pgDb = openPgDatabase(await (await server).createDatabase(), { max: 10 });
      await migratePgDatabase(pgDb);
      const sql = pgSql(pgDb.pool);
      let closed = false;
      const engineDb: EngineDb = {
        sql,
        dialect: "postgres",
        async close() {
          if (closed) return;
          closed = true;
          await sql.close();
        },
      };
      opened.push(engineDb);
      return engineDb;
    },
  },
];

/** Closes every database the file opened, stops its PostgreSQL cluster and deletes the files. */
export async function closeEngines(): Promise<void> {
  for (const db of opened.splice(0)) await db.close().catch(() => undefined);
  if (server) await (await server).stop();
  server = null;
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
}

/** A user row through the executor (portable SQL); answers its id. */
export async function insertUserOn(db: PortableDb, email: string, role: "user" | "admin" = "user", credits = 0): Promise<number> {
  const row = await db.sql.write((tx) => tx.get<{ id: number }>("INSERT INTO users (email, password_hash, role) VALUES (?, 'x', ?) RETURNING id", [email, role]));
  if (credits > 0) {
    const { grant } = await import("../../app/services/money/ledger.server");
    await grant(db.sql, { userId: row!.id, amount: credits, type: "bonus", key: `test-opening:${row!.id}`, description: "opening balance" });
  }
  return row!.id;
}
