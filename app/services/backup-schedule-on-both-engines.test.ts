// The backup schedule on SQLite and on PostgreSQL (decision 036): each pass runs inside
// exclusive("backup"), so a pass that finds another holding it copies nothing; the SQLite file
// copy is SQLite's alone, so on PostgreSQL (pg_dump through npm run db:backup) it does not start.
// (backup.server.test.ts covers the copy, pruning and restore on SQLite.)
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { openMigratedDatabase, closeDatabase } from "#db/client.server";
import { sqliteServerDb } from "#db/server-db.server";
import { closeEngines, ENGINES } from "../../tests/support/engines";
import { listBackups, startBackupSchedule } from "./backup.server";

afterAll(async () => {
  await closeEngines();
});

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), "backup-schedule-"));

describe.each(ENGINES)("backup schedule on $name", (engine) => {
  if (engine.name === "PostgreSQL") {
    it("does not start: the SQLite file copy has no PostgreSQL counterpart in the app", async () => {
      const db = await engine.open();
      const dir = tmp();
      expect(startBackupSchedule({ sql: db.sql, file: null }, { schedule: "04:00", retention: 2, dir })).toBeUndefined();
      expect(listBackups(dir)).toEqual([]);
      fs.rmSync(dir, { recursive: true, force: true });
    }, 60_000);
    return;
  }

  it("runs each pass under exclusive(\"backup\"): while another pass holds it, nothing is copied; after, the copy is made", async () => {
    const dir = tmp();
    const db = openMigratedDatabase(path.join(dir, "app.sqlite"));
    try {
      const backups = path.join(dir, "backups");
      let release!: () => void;
      const holder = db.sql.exclusive("backup", () => new Promise<void>((r) => (release = r)));
      let offset = new Date("2026-05-01T03:59:59.950Z").getTime() - Date.now();
      const task = startBackupSchedule(sqliteServerDb(db), { schedule: "04:00", retention: 5, dir: backups, now: () => new Date(Date.now() + offset) })!;
      await new Promise((r) => setTimeout(r, 300));
      expect(listBackups(backups)).toEqual([]);
      await task.stop();
      release();
      expect(await holder).toBe(true);
      offset = new Date("2026-05-02T03:59:59.950Z").getTime() - Date.now();
      const again = startBackupSchedule(sqliteServerDb(db), { schedule: "04:00", retention: 5, dir: backups, now: () => new Date(Date.now() + offset) })!;
      for (let i = 0; i < 100 && listBackups(backups).length === 0; i++) await new Promise((r) => setTimeout(r, 20));
      await again.stop();
      expect(listBackups(backups).map((f) => path.basename(f))).toEqual([expect.stringMatching(/^app-20260502T0400/)]);
    } finally {
      closeDatabase(db);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
