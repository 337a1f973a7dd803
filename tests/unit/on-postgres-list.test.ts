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
  // An empty list would let CI prove nothing on PostgreSQL; the money path's suites must be in it.
  it("include the money path's HTTP suites", () => {
    for (const suite of ["stripe-flow", "generation-api", "api-keys", "subscriptions", "auto-recharge"]) expect(listed).toContain(`tests/integration/${suite}.test.ts`);
  });
  it.each(listed)("%s exists and reaches the database only through the portable executor", (file) => {
    const text = fs.readFileSync(path.join(ROOT, file), "utf8");
    for (const sqliteOnly of ["better-sqlite3", "openDatabase(", "withServerDb(", "readDb(", "expectLedgerConsistent(", "app.sqlite", ".sqlite.prepare"]) {
      expect(text, `${file} uses ${sqliteOnly}`).not.toContain(sqliteOnly);
    }
  });
});
