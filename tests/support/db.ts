import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { closeDatabase, openMigratedDatabase, type AppDb } from "../../db/client.server";

/** A real, migrated SQLite file in a fresh temp folder; remove() deletes both. */
export function createTestDb(): AppDb & { dir: string; remove(): void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "credits-test-"));
  const db = openMigratedDatabase(path.join(dir, "app.sqlite"));
  return Object.assign(db, {
    dir,
    remove() {
      closeDatabase(db);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  });
}

export function insertUser(db: AppDb, email: string, role: "user" | "admin" = "user"): number {
  return Number(
    db.sqlite.prepare("insert into users (email, password_hash, role) values (?, 'x', ?)").run(email, role)
      .lastInsertRowid,
  );
}
