/**
 * Migrations 0010/0011 on a database an older release filled (decision 037): the backfill gives
 * daily_totals, user_daily_totals and user_totals exactly what the rows already there add up to, and the triggers
 * carry on from there.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, expect, it } from "vitest";
import { insertUser } from "../tests/support/db";
import { directFigures, directUserDayFigures, directUserFigures, keptFigures, keptUserDayFigures, keptUserFigures, migrationsUpTo, runLedgerWorkload } from "../tests/support/daily-totals";
import { closeDatabase, migrateDatabase, openDatabase, type AppDb } from "./client.server";

const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).forEach((clean) => clean()));

function olderDatabase(): AppDb {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "credits-totals-"));
  const db = openDatabase(path.join(dir, "app.sqlite"));
  cleanups.push(() => {
    closeDatabase(db);
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const older = migrationsUpTo("0009_generations_deleted");
  cleanups.push(older.remove);
  migrateDatabase(db, older.dir);
  return db;
}

const tableExists = (db: AppDb, name: string) => db.sqlite.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(name) !== undefined;

it("backfills the totals of an existing ledger, then keeps them as the ledger writes on", async () => {
  const db = olderDatabase();
  expect(tableExists(db, "daily_totals")).toBe(false);
  const adminId = insertUser(db, "boss@example.com", "admin");
  const userIds = Array.from({ length: 8 }, (_, i) => insertUser(db, `older${i}@example.com`));
  const before = await runLedgerWorkload(db, { seed: 42, steps: 400, userIds, adminId, start: Date.UTC(2026, 5, 1, 9) });
  const rows = directFigures(db.sqlite);
  expect(rows.length).toBeGreaterThan(20);
  expect(rows.some((r) => r.status === "pending")).toBe(true); // holds still open at the upgrade

  expect(migrateDatabase(db)).toEqual(["0010_daily_totals", "0011_daily_totals_triggers", "0012_generation_leases"]);
  expect(keptFigures(db.sqlite)).toEqual(rows);
  expect(keptUserDayFigures(db.sqlite)).toEqual(directUserDayFigures(db.sqlite));
  expect(keptUserFigures(db.sqlite)).toEqual(directUserFigures(db.sqlite));
  expect(keptUserFigures(db.sqlite).users).toBe(9);

  // The holds open at the upgrade are posted or voided by the triggers' side of the migration.
  await runLedgerWorkload(db, { seed: 43, steps: 300, userIds, adminId, start: before.now });
  expect(keptFigures(db.sqlite)).toEqual(directFigures(db.sqlite));
  expect(keptUserDayFigures(db.sqlite)).toEqual(directUserDayFigures(db.sqlite));
  expect(keptUserFigures(db.sqlite)).toEqual(directUserFigures(db.sqlite));
  expect(migrateDatabase(db)).toEqual([]);
});

it("gives an empty database empty totals and one zero row of user figures", async () => {
  const db = olderDatabase();
  expect(migrateDatabase(db)).toEqual(["0010_daily_totals", "0011_daily_totals_triggers", "0012_generation_leases"]);
  expect(keptFigures(db.sqlite)).toEqual([]);
  expect(keptUserDayFigures(db.sqlite)).toEqual([]);
  expect(db.sqlite.prepare("SELECT shard, users, credits FROM user_totals").all()).toEqual([{ shard: 0, users: 0, credits: 0 }]);
});
