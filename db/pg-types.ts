/**
 * The two PostgreSQL pieces db/schema.pg.ts (generated from db/schema.ts by
 * scripts/gen-pg-schema.ts) needs that have no one-word pg-core equivalent of the SQLite side.
 * Why the PostgreSQL schema is shaped this way: docs/decisions/034-postgresql-schema-and-migrations.md.
 */
import { sql } from "drizzle-orm";
import { customType } from "drizzle-orm/pg-core";

/** db/schema.ts's `now`: integer milliseconds since the epoch. clock_timestamp(), not now():
 * SQLite's default is the time of the statement, and now() would be the transaction's start.
 * floor() because SQLite's cast truncates where PostgreSQL's ::bigint would round. */
export const nowMs = sql`(floor(extract(epoch from clock_timestamp()) * 1000)::bigint)`;

/** A boolean stored as SQLite stores it (integer 0/1), so a row copies across unchanged and the
 * services' hand-written SQL (`= 1`) reads the same on both; drizzle still hands out a boolean. */
export const intBoolean = customType<{ data: boolean; driverData: number | string }>({
  dataType: () => "integer",
  toDriver: (value) => (value ? 1 : 0),
  fromDriver: (value) => Number(value) === 1,
});
