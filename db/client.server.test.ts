import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { closeDatabase, openDatabase, PAGE_CACHE_KIB, type AppDb } from "./client.server";

// The pragmas every connection of the app runs with: durability (decision 002), the foreign keys
// the schema declares, and a page cache large enough that a big file's index pages stay in it.
describe("openDatabase", () => {
  const opened: AppDb[] = [];
  const dirs: string[] = [];
  afterEach(() => {
    for (const db of opened.splice(0)) closeDatabase(db);
    for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
  });

  function open(): AppDb {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "client-pragmas-"));
    dirs.push(dir);
    const db = openDatabase(path.join(dir, "app.sqlite"));
    opened.push(db);
    return db;
  }

  it("opens in WAL mode with synchronous=FULL and foreign keys on", () => {
    const db = open();
    expect(db.sqlite.pragma("journal_mode", { simple: true })).toBe("wal");
    expect(db.sqlite.pragma("synchronous", { simple: true })).toBe(2); // FULL
    expect(db.sqlite.pragma("foreign_keys", { simple: true })).toBe(1);
  });

  it("gives each connection a 32 MiB page cache instead of SQLite's 2 MiB", () => {
    const db = open();
    expect(PAGE_CACHE_KIB).toBe(32 * 1024);
    expect(db.sqlite.pragma("cache_size", { simple: true })).toBe(-PAGE_CACHE_KIB);
  });
});
