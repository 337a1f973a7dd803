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

  it("gives each connection a 32 MiB page cache instead of SQLite's 2 MiB: the writer and the executor's reader", async () => {
    const db = open();
    expect(PAGE_CACHE_KIB).toBe(32 * 1024);
    expect(db.sqlite.pragma("cache_size", { simple: true })).toBe(-PAGE_CACHE_KIB);
    // Reads outside a write body (every page's loader) go through the executor's own reader
    // connection, which the pages depend on most.
    expect(await db.sql.get("SELECT cache_size AS n FROM pragma_cache_size()")).toEqual({ n: -PAGE_CACHE_KIB });
    expect(await db.sql.get("SELECT synchronous AS n FROM pragma_synchronous()")).toEqual({ n: 2 });
  });

  it("opens a read-only file without switching its journal mode", () => {
    const db = open();
    const file = db.path;
    closeDatabase(opened.pop()!);
    const ro = openDatabase(file, { readonly: true });
    opened.push(ro);
    expect(ro.sqlite.readonly).toBe(true);
    expect(ro.sqlite.pragma("cache_size", { simple: true })).toBe(-PAGE_CACHE_KIB);
  });
});
