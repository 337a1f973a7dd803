import { defineConfig } from "drizzle-kit";

// PostgreSQL's migrations, made from db/schema.pg.ts (itself generated from db/schema.ts, the one
// schema source: docs/decisions/034-postgresql-schema-and-migrations.md). `generate` needs no server.
export default defineConfig({
  dialect: "postgresql",
  schema: "./db/schema.pg.ts",
  out: "./db/migrations-pg",
  dbCredentials: { url: process.env.DATABASE_URL ?? "postgres://localhost/credits" },
});
