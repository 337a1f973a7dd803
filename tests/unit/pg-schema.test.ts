import fs from "node:fs";
import path from "node:path";
import { sql } from "drizzle-orm";
import { index, integer, real, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { generateDrizzleJson, generateMigration, generateSQLiteDrizzleJson, generateSQLiteMigration } from "drizzle-kit/api";
import { describe, expect, it } from "vitest";
import * as sqliteSchema from "../../db/schema";
import * as pgSchema from "../../db/schema.pg";
import { renderPgSchema } from "../../scripts/pg-schema-source";

// One schema source (decision 034): db/schema.ts. These fail when a change to it was not carried
// to the generated PostgreSQL schema or to either dialect's migrations (`npm run db:generate`).

const ROOT = path.resolve(import.meta.dirname, "../..");

function lastSnapshot(folder: string): Parameters<typeof generateMigration>[0] {
  const journal = JSON.parse(fs.readFileSync(path.join(ROOT, folder, "meta/_journal.json"), "utf8")) as { entries: Array<{ idx: number }> };
  const last = journal.entries.at(-1)!;
  return JSON.parse(fs.readFileSync(path.join(ROOT, folder, `meta/${String(last.idx).padStart(4, "0")}_snapshot.json`), "utf8"));
}

describe("the PostgreSQL schema generated from db/schema.ts", () => {
  it("is what db/schema.ts gives today (run `npm run db:generate` after changing it)", () => {
    expect(fs.readFileSync(path.join(ROOT, "db/schema.pg.ts"), "utf8")).toBe(renderPgSchema());
  });

  it("has every table of db/schema.ts under the same export name", () => {
    const tablesOf = (m: Record<string, unknown>) => Object.keys(m).filter((k) => typeof m[k] === "object" && m[k] !== null && "getSQL" in (m[k] as object));
    expect(tablesOf(pgSchema).sort()).toEqual(tablesOf(sqliteSchema).sort());
    expect(tablesOf(pgSchema).length).toBeGreaterThan(15);
  });

  it("db/migrations-pg holds every change of db/schema.pg.ts", async () => {
    const statements = await generateMigration(lastSnapshot("db/migrations-pg"), generateDrizzleJson(pgSchema));
    expect(statements).toEqual([]);
  });

  it("db/migrations holds every change of db/schema.ts (the SQLite side of the same rule)", async () => {
    const previous = lastSnapshot("db/migrations") as unknown as Parameters<typeof generateSQLiteMigration>[0];
    const statements = await generateSQLiteMigration(previous, await generateSQLiteDrizzleJson(sqliteSchema));
    expect(statements).toEqual([]);
  });

  it("refuses what it cannot carry over instead of dropping it", () => {
    const floats = sqliteTable("floats", { id: integer("id").primaryKey(), ratio: real("ratio") });
    expect(() => renderPgSchema({ floats })).toThrow(/floats\.ratio: no PostgreSQL mapping for SQLiteReal/);
    const clock = sqliteTable("clock", { at: integer("at").default(sql`(strftime('%s'))`) });
    expect(() => renderPgSchema({ clock })).toThrow(/clock\.at: no PostgreSQL mapping for the SQL default/);
    const byExpression = sqliteTable("words", { word: text("word") }, (t) => [index("words_lower_idx").on(sql`lower(${t.word})`)]);
    expect(() => renderPgSchema({ byExpression })).toThrow(/expression index is not carried over/);
  });
});
