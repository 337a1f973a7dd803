import fs from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { sqliteServerDb } from "#db/server-db.server";
import { createTestDb, insertUser } from "../../tests/support/db";
import {
  backupDatabase,
  backupFileName,
  checkDatabaseFile,
  databaseInUse,
  listBackups,
  nextBackupAt,
  pruneBackups,
  restoreDatabase,
  startBackupSchedule,
} from "./backup.server";

const dbs: Array<ReturnType<typeof createTestDb>> = [];
function testDb() {
  const db = createTestDb();
  dbs.push(db);
  return db;
}
afterEach(() => {
  for (const db of dbs.splice(0)) db.remove();
});

const countUsers = (file: string) => {
  const db = new Database(file, { readonly: true });
  try {
    return (db.prepare("SELECT count(*) AS n FROM users").get() as { n: number }).n;
  } finally {
    db.close();
  }
};

describe("backupDatabase", () => {
  it("copies in small steps while the same connection keeps writing, and the copy is whole", async () => {
    const db = testDb();
    const insert = db.sqlite.prepare("INSERT INTO users (email, password_hash) VALUES (?, ?)");
    db.sqlite.transaction(() => {
      for (let i = 0; i < 3000; i++) insert.run(`seed-${i}@x.test`, "h".repeat(200));
    })();
    let writes = 0;
    const writer = setInterval(() => insert.run(`live-${writes++}@x.test`, "h"), 0);
    const file = path.join(db.dir, "backups", backupFileName());
    const result = await backupDatabase(db.sqlite, file, { pagesPerStep: 5 });
    clearInterval(writer);
    expect(result.ok).toBe(true);
    expect(result.pages).toBeGreaterThan(50);
    expect(writes).toBeGreaterThan(0); // the event loop kept running during the copy
    const copied = countUsers(file);
    expect(copied).toBeGreaterThanOrEqual(3000);
    expect(copied).toBeLessThanOrEqual(3000 + writes);
    expect(checkDatabaseFile(file)).toMatchObject({ ok: true, problems: [] });
    expect(fs.readdirSync(path.dirname(file)).filter((f) => f.includes(".partial-"))).toEqual([]);
  });

  it("never overwrites an existing file", async () => {
    const db = testDb();
    const file = path.join(db.dir, "out.sqlite");
    fs.writeFileSync(file, "keep me");
    await expect(backupDatabase(db.sqlite, file)).rejects.toThrow(/exists already/);
    expect(fs.readFileSync(file, "utf8")).toBe("keep me");
  });
});

describe("retention and schedule", () => {
  it("keeps the newest N backups and touches no other file", () => {
    const db = testDb();
    const dir = path.join(db.dir, "backups");
    fs.mkdirSync(dir);
    const names = [1, 2, 3, 4].map((d) => backupFileName(new Date(Date.UTC(2026, 0, d, 3, 0))));
    for (const n of names) fs.writeFileSync(path.join(dir, n), "");
    fs.writeFileSync(path.join(dir, "my-own-copy.sqlite"), "");
    const removed = pruneBackups(dir, 2).map((f) => path.basename(f));
    expect(removed.sort()).toEqual(names.slice(0, 2).sort());
    expect(fs.readdirSync(dir).sort()).toEqual([...names.slice(2), "my-own-copy.sqlite"].sort());
  });

  it("computes the next daily run in UTC", () => {
    const now = new Date("2026-03-10T02:00:00Z");
    expect(nextBackupAt("daily", now).toISOString()).toBe("2026-03-10T03:00:00.000Z");
    expect(nextBackupAt("01:15", now).toISOString()).toBe("2026-03-11T01:15:00.000Z");
    expect(nextBackupAt("02:00", now).toISOString()).toBe("2026-03-11T02:00:00.000Z");
    expect(nextBackupAt("23:59", new Date("2026-12-31T23:59:30Z")).toISOString()).toBe("2027-01-01T23:59:00.000Z");
  });

  it("runs at the scheduled time, prunes to the retention, and waits for a running backup on stop", async () => {
    const db = testDb();
    insertUser(db, "scheduled@x.test");
    const dir = path.join(db.dir, "backups");
    fs.mkdirSync(dir);
    for (let d = 1; d <= 3; d++) fs.writeFileSync(path.join(dir, backupFileName(new Date(Date.UTC(2020, 0, d)))), "");
    // A clock 80 ms before 04:00 UTC: the first run is due almost at once, the next a day later.
    const offset = new Date("2026-05-01T03:59:59.920Z").getTime() - Date.now();
    const task = startBackupSchedule(sqliteServerDb(db), { schedule: "04:00", retention: 2, dir, now: () => new Date(Date.now() + offset) })!;
    for (let i = 0; i < 100 && !listBackups(dir).some((f) => f.includes("20260501T04")); i++) await new Promise((r) => setTimeout(r, 20));
    await task.stop();
    const files = listBackups(dir).map((f) => path.basename(f));
    expect(files).toHaveLength(2);
    expect(files[1]).toMatch(/^app-20260501T0400/);
    expect(countUsers(path.join(dir, files[1]!))).toBe(1);
  });

  it("is off by default", () => {
    expect(startBackupSchedule(sqliteServerDb(testDb()), { schedule: "off", retention: 7, dir: "/nonexistent" })).toBeUndefined();
  });
});

describe("restoreDatabase", () => {
  it("sees another open connection, and restores once it is closed", async () => {
    const live = testDb();
    insertUser(live, "original@x.test");
    const backup = path.join(live.dir, "b.sqlite");
    await backupDatabase(live.sqlite, backup);
    insertUser(live, "later@x.test");
    expect(databaseInUse(live.path)).toBe(true);
    expect(() => restoreDatabase(backup, live.path)).toThrow(/is in use/);
    live.sqlite.close();
    expect(databaseInUse(live.path)).toBe(false);
    const result = restoreDatabase(backup, live.path, new Date("2026-01-02T03:04:05Z"));
    expect(result.previous).toBe(`${live.path}.pre-restore-20260102T030405.000Z`);
    expect(countUsers(live.path)).toBe(1);
    expect(countUsers(result.previous!)).toBe(2);
    expect(fs.existsSync(`${live.path}-wal`)).toBe(false);
  });

  it("restores into an empty data folder (a new machine)", async () => {
    const live = testDb();
    insertUser(live, "original@x.test");
    const backup = path.join(live.dir, "b.sqlite");
    await backupDatabase(live.sqlite, backup);
    const target = path.join(live.dir, "fresh", "app.sqlite");
    expect(restoreDatabase(backup, target).previous).toBeNull();
    expect(countUsers(target)).toBe(1);
  });
});
