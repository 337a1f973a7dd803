/**
 * Renders db/schema.pg.ts (drizzle pg-core) from db/schema.ts (drizzle sqlite-core), the one
 * schema source (docs/decisions/034-postgresql-schema-and-migrations.md). It reads drizzle's own
 * table configs, so every column, default, CHECK, index (partial and unique included), composite
 * key and foreign key is carried over, and anything it does not know how to carry stops it with
 * an error instead of being dropped: a guarantee missing on PostgreSQL must never pass silently.
 *
 * Type rules: every SQLite INTEGER becomes bigint (mode "number"): SQLite's integers are 64-bit,
 * so no value that fits on one side overflows on the other, and one rule needs no per-column
 * judgment (ids, epoch-ms timestamps and credits alike). An autoincrement key becomes an identity
 * column (BY DEFAULT, so the copy script can keep the SQLite ids). Booleans stay integer 0/1
 * (db/pg-types.ts intBoolean). Text stays text, with its enum for drizzle's types.
 */
import { is, SQL, StringChunk, getTableColumns, type Column } from "drizzle-orm";
import { getTableConfig, SQLiteTable, type AnySQLiteColumn } from "drizzle-orm/sqlite-core";
import * as schema from "../db/schema";

type Table = { exportName: string; table: SQLiteTable };

export function sqliteTables(source: Record<string, unknown> = schema): Table[] {
  // Sorted: a module namespace's key order differs between loaders (tsx, vitest), the file must not.
  return Object.entries(source)
    .flatMap(([exportName, value]) => (is(value, SQLiteTable) ? [{ exportName, table: value as SQLiteTable }] : []))
    .sort((a, b) => a.exportName.localeCompare(b.exportName));
}

/** The SQLite `now` default of db/schema.ts, as text, to recognise it on a column. */
const SQLITE_NOW = "(cast(unixepoch('subsec') * 1000 as integer))";

/** The text of db/schema.pg.ts for a sqlite-core schema module (db/schema.ts unless a test's). */
export function renderPgSchema(source: Record<string, unknown> = schema): string {
  const tables = sqliteTables(source);
  const owner = new Map<Column, { exportName: string; prop: string }>();
  for (const { exportName, table } of tables) {
    for (const [prop, column] of Object.entries(getTableColumns(table))) owner.set(column, { exportName, prop });
  }
  const propOf = (column: Column): string => {
    const found = owner.get(column);
    if (!found) throw new Error(`column ${column.name} belongs to no exported table of db/schema.ts`);
    return found.prop;
  };
  const body = tables.map(({ exportName, table }) => renderTable(exportName, table, owner, propOf)).join("\n\n");
  return `${header(body)}\n${body}\n`;
}

/** The file's comment and its imports: only what the tables use, so the file lints clean. */
function header(body: string): string {
  const used = (name: string) => new RegExp(`\\b${name}[(\`]`).test(body);
  const core = ["bigint", "check", "index", "pgTable", "primaryKey", "text", "uniqueIndex"].filter(used);
  const local = ["intBoolean", "nowMs"].filter((name) => new RegExp(`\\b${name}\\b`).test(body));
  return [
    "// GENERATED from db/schema.ts by scripts/gen-pg-schema.ts: do not edit. Change db/schema.ts, then",
    "// run `npm run db:generate` (both dialects' schema and migrations). tests/unit/pg-schema.test.ts",
    "// fails when this file is stale. Why: docs/decisions/034-postgresql-schema-and-migrations.md.",
    ...(used("sql") ? ['import { sql } from "drizzle-orm";'] : []),
    `import { ${core.join(", ")} } from "drizzle-orm/pg-core";`,
    ...(local.length ? [`import { ${local.join(", ")} } from "./pg-types";`] : []),
  ].join("\n") + "\n";
}

function renderTable(
  exportName: string,
  table: SQLiteTable,
  owner: Map<Column, { exportName: string; prop: string }>,
  propOf: (c: Column) => string,
): string {
  const config = getTableConfig(table);
  const fkOf = new Map<string, string>();
  for (const fk of config.foreignKeys) {
    const ref = fk.reference();
    if (ref.columns.length !== 1) throw new Error(`${config.name}: only single-column foreign keys are carried over`);
    if (fk.onUpdate && fk.onUpdate !== "no action") throw new Error(`${config.name}: ON UPDATE ${fk.onUpdate} is not carried over`);
    const target = owner.get(ref.foreignColumns[0]);
    if (!target) throw new Error(`${config.name}: foreign key to a table db/schema.ts does not export`);
    fkOf.set(ref.columns[0].name, `.references(() => ${target.exportName}.${target.prop}, { onDelete: "${fk.onDelete ?? "no action"}" })`);
  }
  const columns = Object.entries(getTableColumns(table)).map(
    ([prop, column]) => `    ${prop}: ${renderColumn(config.name, column as AnySQLiteColumn)}${fkOf.get(column.name) ?? ""},`,
  );
  const extras: string[] = [];
  for (const pk of config.primaryKeys) extras.push(`primaryKey({ columns: [${pk.columns.map((c) => `t.${propOf(c)}`).join(", ")}] })`);
  for (const unique of config.uniqueConstraints) {
    throw new Error(`${config.name}: table-level unique constraint ${unique.name ?? ""} is not carried over (use uniqueIndex)`);
  }
  for (const { config: ix } of config.indexes) {
    const cols = ix.columns.map((c) => {
      if (is(c, SQL)) throw new Error(`${config.name}.${ix.name}: an expression index is not carried over`);
      return `t.${propOf(c as Column)}`;
    });
    const where = ix.where ? `.where(${renderSql(ix.where, propOf)})` : "";
    extras.push(`${ix.unique ? "uniqueIndex" : "index"}(${JSON.stringify(ix.name)}).on(${cols.join(", ")})${where}`);
  }
  for (const c of config.checks) extras.push(`check(${JSON.stringify(c.name)}, ${renderSql(c.value, propOf)})`);
  const extra = extras.length ? `,\n  (t) => [\n${extras.map((e) => `    ${e},`).join("\n")}\n  ]` : "";
  return `export const ${exportName} = pgTable(\n  ${JSON.stringify(config.name)},\n  {\n${columns.join("\n")}\n  }${extra},\n);`;
}

function renderColumn(tableName: string, column: AnySQLiteColumn): string {
  const where = `${tableName}.${column.name}`;
  const c = column as AnySQLiteColumn & { autoIncrement?: boolean; enumValues?: readonly string[] };
  let out: string;
  switch (column.columnType) {
    case "SQLiteInteger":
      out = `bigint(${JSON.stringify(column.name)}, { mode: "number" })`;
      break;
    case "SQLiteBoolean":
      out = `intBoolean(${JSON.stringify(column.name)})`;
      break;
    case "SQLiteText":
      out = c.enumValues?.length
        ? `text(${JSON.stringify(column.name)}, { enum: [${c.enumValues.map((v) => JSON.stringify(v)).join(", ")}] })`
        : `text(${JSON.stringify(column.name)})`;
      break;
    default:
      throw new Error(`${where}: no PostgreSQL mapping for ${column.columnType}`);
  }
  if (column.primary) {
    out += ".primaryKey()";
    if (c.autoIncrement) {
      if (column.columnType !== "SQLiteInteger") throw new Error(`${where}: autoincrement on a non-integer key`);
      out += ".generatedByDefaultAsIdentity()";
    }
  } else if (column.notNull) {
    out += ".notNull()";
  }
  if (column.isUnique) out += ".unique()";
  if (column.hasDefault && column.default !== undefined) out += `.default(${renderDefault(where, column)})`;
  return out;
}

function renderDefault(where: string, column: AnySQLiteColumn): string {
  const value: unknown = column.default;
  if (is(value, SQL)) {
    const text = value.queryChunks.map((chunk) => (is(chunk, StringChunk) ? chunk.value.join("") : "?")).join("");
    if (text === SQLITE_NOW) return "nowMs";
    throw new Error(`${where}: no PostgreSQL mapping for the SQL default ${text}`);
  }
  if (column.columnType === "SQLiteBoolean" && typeof value === "boolean") return value ? "sql`1`" : "sql`0`";
  if (typeof value === "string" || typeof value === "number") return JSON.stringify(value);
  throw new Error(`${where}: no PostgreSQL mapping for the default ${JSON.stringify(value)}`);
}

/** A CHECK or a partial index's WHERE, as a sql`` template naming the pg table's columns. */
function renderSql(value: SQL, propOf: (c: Column) => string): string {
  const parts = value.queryChunks.map((chunk) => {
    if (is(chunk, StringChunk)) return chunk.value.join("").replace(/[`\\]|\$\{/g, (m) => `\\${m}`);
    if (is(chunk, SQL)) return renderSql(chunk, propOf).slice(4, -1);
    if (chunk && typeof chunk === "object" && "columnType" in chunk) return `\${t.${propOf(chunk as Column)}}`;
    throw new Error(`cannot carry over a SQL part ${String(chunk)}: write it as text or a column`);
  });
  return `sql\`${parts.join("")}\``;
}
