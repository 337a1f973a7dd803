/**
 * npm run db:generate:pg (part of npm run db:generate) — writes db/schema.pg.ts from db/schema.ts
 * (scripts/pg-schema-source.ts), then drizzle-kit makes db/migrations-pg/ from it.
 *   --check: write nothing; exit 1 if db/schema.pg.ts is not what db/schema.ts gives.
 */
import fs from "node:fs";
import path from "node:path";
import { renderPgSchema } from "./pg-schema-source";

export const PG_SCHEMA_FILE = path.resolve(import.meta.dirname, "../db/schema.pg.ts");

const rendered = renderPgSchema();
const current = fs.existsSync(PG_SCHEMA_FILE) ? fs.readFileSync(PG_SCHEMA_FILE, "utf8") : "";
if (process.argv.includes("--check")) {
  if (current !== rendered) {
    console.error("db/schema.pg.ts is stale: run `npm run db:generate`");
    process.exitCode = 1;
  }
} else if (current === rendered) {
  console.log("db/schema.pg.ts is up to date");
} else {
  fs.writeFileSync(PG_SCHEMA_FILE, rendered);
  console.log("wrote db/schema.pg.ts");
}
