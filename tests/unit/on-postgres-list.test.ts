import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

// tests/on-postgres.txt names the HTTP suites CI runs again on PostgreSQL. A suite that read the
// SQLite file behind the server's back would pass there without ever asking PostgreSQL: refuse it.
const ROOT = path.resolve(import.meta.dirname, "../..");
const listed = fs
  .readFileSync(path.join(ROOT, "tests/on-postgres.txt"), "utf8")
  .split("\n")
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith("#"));

describe("the suites run on PostgreSQL", () => {
  // Once the server accepts DATABASE_URL, the list may not be empty: CI would prove nothing there.
  const refuses = fs.readFileSync(path.join(ROOT, "app/services/runtime.server.ts"), "utf8").includes("PostgresNotPortedError");
  it("are listed once the server runs on PostgreSQL", () => expect(refuses || listed.length > 0).toBe(true));
  it.each(listed)("%s exists and reaches the database only through the portable executor", (file) => {
    const text = fs.readFileSync(path.join(ROOT, file), "utf8");
    for (const sqliteOnly of ["better-sqlite3", "openDatabase(", "withServerDb(", "readDb(", "expectLedgerConsistent(", "app.sqlite", ".sqlite.prepare"]) {
      expect(text, `${file} uses ${sqliteOnly}`).not.toContain(sqliteOnly);
    }
  });
});
