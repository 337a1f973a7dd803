import type Database from "better-sqlite3";
import type pg from "pg";

/**
 * Copies every row of a migrated SQLite database into an empty, migrated PostgreSQL one
 * (npm run db:copy-to-postgres; decision 034). All or nothing: one PostgreSQL transaction that
 * locks every table, refuses a target holding any row, inserts in foreign-key order, moves each
 * identity sequence past the highest id SQLite ever gave, then checks row counts and the ledger
 * (per user, credits == SUM of the counting rows) before it commits. The source is read in one
 * read transaction (one consistent snapshot, even while the app writes) in batches by rowid, so
 * a table of millions of rows never sits in memory. The derived tables (DERIVED_TABLES, kept by
 * triggers: decision 037) are not copied: PostgreSQL's own triggers rebuild them from the rows as
 * they arrive, and the copy commits only if what they rebuilt says what SQLite's say.
 */

export type CopyRefusal = { ok: false; reason: "schema_mismatch" | "target_not_empty" | "mismatch"; message: string };
export type CopyResult = { ok: true; tables: Array<{ name: string; rows: number }>; sequences: string[]; users: number; ms: number } | CopyRefusal;

export const COPY_BATCH_ROWS = 1000;

/** Tables made by triggers from other tables' rows, and the figures each must give on both sides
 * (shards summed: SQLite writes shard 0, PostgreSQL spreads writers over several). A group every
 * row of which moved away (a hold since posted) is no figure. */
export const DERIVED_TABLES: Record<string, string> = {
  daily_totals: `SELECT day, type, status, currency, sum(credits) AS credits, sum(revenue_minor) AS revenue, sum(row_count) AS "rows"
    FROM daily_totals GROUP BY day, type, status, currency
    HAVING sum(row_count) <> 0 OR sum(credits) <> 0 OR sum(revenue_minor) <> 0`,
  // Per day, type and status with a fingerprint of who: a million user-days never sit in memory,
  // and a figure given to the wrong user still changes the weighted sums.
  user_daily_totals: `SELECT day, type, status, sum(credits) AS credits, sum(row_count) AS "rows",
      sum(user_id * credits) AS "creditsByUser", sum(user_id * row_count) AS "rowsByUser"
    FROM user_daily_totals WHERE row_count <> 0 OR credits <> 0 GROUP BY day, type, status`,
  user_totals: `SELECT coalesce(sum(users), 0) AS users, coalesce(sum(credits), 0) AS credits FROM user_totals`,
};

type Column = { name: string; pk: number };

/** Tables in an order where every table comes after those it references. */
export function foreignKeyOrder(sqlite: Database.Database): string[] {
  const names = sqlite
    .prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name != '__drizzle_migrations' ORDER BY name")
    .all()
    .map((t) => t.name);
  const references = new Map(
    names.map((name) => [
      name,
      sqlite.prepare<[], { table: string }>(`SELECT DISTINCT "table" FROM pragma_foreign_key_list('${name}')`).all().map((r) => r.table).filter((t) => t !== name),
    ]),
  );
  const ordered: string[] = [];
  const visiting = new Set<string>();
  const visit = (name: string) => {
    if (ordered.includes(name)) return;
    if (visiting.has(name)) throw new Error(`foreign keys form a cycle through ${name}: no insertion order exists`);
    visiting.add(name);
    for (const dep of references.get(name) ?? []) visit(dep);
    visiting.delete(name);
    ordered.push(name);
  };
  names.forEach(visit);
  return ordered;
}

const quote = (name: string) => `"${name.replace(/"/g, '""')}"`;

/** The same tables with the same columns on both sides, or what differs. */
async function schemaDifference(sqlite: Database.Database, client: pg.ClientBase, tables: string[]): Promise<string | null> {
  const { rows } = await client.query<{ table: string; column: string }>(
    "SELECT table_name AS table, column_name AS column FROM information_schema.columns WHERE table_schema = 'public'",
  );
  const target = new Map<string, Set<string>>();
  for (const r of rows) target.set(r.table, (target.get(r.table) ?? new Set()).add(r.column));
  const extra = [...target.keys()].filter((t) => !tables.includes(t));
  if (extra.length) return `PostgreSQL has tables SQLite lacks: ${extra.join(", ")}`;
  for (const table of tables) {
    const theirs = target.get(table);
    if (!theirs) return `PostgreSQL has no table ${table}`;
    const ours = columnsOf(sqlite, table).map((c) => c.name);
    const missing = ours.filter((c) => !theirs.has(c));
    const added = [...theirs].filter((c) => !ours.includes(c));
    if (missing.length || added.length) return `table ${table} differs: ${[...missing.map((c) => `no ${c} on PostgreSQL`), ...added.map((c) => `no ${c} on SQLite`)].join(", ")}`;
  }
  return null;
}

function columnsOf(sqlite: Database.Database, table: string): Column[] {
  return sqlite.prepare<[], Column>(`SELECT name, pk FROM pragma_table_info('${table}') ORDER BY cid`).all();
}

/** SQLite integers as text when they do not fit a JS number exactly (PostgreSQL casts them). */
function toParam(value: unknown): unknown {
  if (typeof value === "bigint") return value.toString();
  return value;
}

async function copyTable(sqlite: Database.Database, client: pg.ClientBase, table: string, batchRows: number): Promise<number> {
  const columns = columnsOf(sqlite, table).map((c) => c.name);
  const list = columns.map(quote).join(", ");
  // One statement carries at most 65535 parameters: a wide table gets smaller batches.
  const rowsPerBatch = Math.max(1, Math.min(batchRows, Math.floor(65_535 / columns.length)));
  // Keyset on rowid: each batch is one bounded read, whatever the table's size.
  const page = sqlite.prepare(`SELECT rowid AS "__rowid", ${list} FROM ${quote(table)} WHERE rowid > ? ORDER BY rowid LIMIT ${rowsPerBatch}`).raw(true).safeIntegers(true);
  let after: bigint = -1n << 63n;
  let copied = 0;
  for (;;) {
    const rows = page.all(after) as unknown[][];
    if (rows.length === 0) return copied;
    const params: unknown[] = [];
    const tuples = rows.map((row) => {
      const values = row.slice(1).map((v) => {
        params.push(toParam(v));
        return `$${params.length}`;
      });
      return `(${values.join(", ")})`;
    });
    // OVERRIDING SYSTEM VALUE: keep SQLite's ids in identity columns (the ledger rows name them).
    await client.query(`INSERT INTO ${quote(table)} (${list}) OVERRIDING SYSTEM VALUE VALUES ${tuples.join(", ")}`, params);
    copied += rows.length;
    after = rows[rows.length - 1][0] as bigint;
  }
}

/** Moves each identity sequence past every id SQLite ever handed out (sqlite_sequence remembers
 * deleted ones), so PostgreSQL never reuses an id either. */
async function resetSequences(sqlite: Database.Database, client: pg.ClientBase): Promise<string[]> {
  const { rows } = await client.query<{ table: string; column: string }>(
    "SELECT table_name AS table, column_name AS column FROM information_schema.columns WHERE table_schema = 'public' AND is_identity = 'YES' ORDER BY 1",
  );
  const hasSequenceTable = sqlite.prepare("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'").get() !== undefined;
  const reset: string[] = [];
  for (const { table, column } of rows) {
    const given = hasSequenceTable ? (sqlite.prepare<[string], { seq: number }>("SELECT seq FROM sqlite_sequence WHERE name = ?").get(table)?.seq ?? 0) : 0;
    await client.query(
      `SELECT setval(pg_get_serial_sequence($1, $2), greatest((SELECT coalesce(max(${quote(column)}), 0) FROM ${quote(table)}), $3::bigint) + 1, false)`,
      [table, column, given],
    );
    reset.push(`${table}.${column}`);
  }
  return reset;
}

const LEDGER_MISMATCHES = `
  SELECT u.id AS "userId", u.credits AS credits, coalesce(s.total, 0) AS total
  FROM users u LEFT JOIN (
    SELECT user_id, sum(amount) AS total FROM transactions WHERE status IN ('pending', 'posted') GROUP BY user_id
  ) s ON s.user_id = u.id
  WHERE u.credits <> coalesce(s.total, 0)
  ORDER BY u.id`;

/** What must be equal on the target before the copy commits: each table's rows, each user's balance. */
async function verifyCopy(sqlite: Database.Database, client: pg.ClientBase, tables: string[]): Promise<string[]> {
  const problems: string[] = [];
  for (const table of tables.filter((t) => t in DERIVED_TABLES)) problems.push(...(await derivedDifference(sqlite, client, table)));
  for (const table of tables.filter((t) => !(t in DERIVED_TABLES))) {
    const source = sqlite.prepare<[], { n: number }>(`SELECT count(*) AS n FROM ${quote(table)}`).get()!.n;
    const target = Number((await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${quote(table)}`)).rows[0].n);
    if (source !== target) problems.push(`${table}: ${source} rows in SQLite, ${target} in PostgreSQL`);
  }
  // Each user's balance on both sides, a batch of users at a time (never the whole table in memory).
  const balances = sqlite.prepare<[number], { id: number; credits: number }>(`SELECT id, credits FROM users WHERE id > ? ORDER BY id LIMIT ${COPY_BATCH_ROWS}`);
  for (let batch = balances.all(-1); batch.length > 0; batch = balances.all(batch[batch.length - 1].id)) {
    const { rows } = await client.query<{ id: string; credits: string }>("SELECT id, credits FROM users WHERE id = ANY($1::bigint[])", [batch.map((u) => u.id)]);
    const target = new Map(rows.map((r) => [Number(r.id), Number(r.credits)]));
    for (const { id, credits } of batch) {
      if (target.get(id) !== credits) problems.push(`user ${id}: credits ${credits} in SQLite, ${target.get(id)} in PostgreSQL`);
    }
  }
  const mismatches = (await client.query<{ userId: string; credits: string; total: string }>(LEDGER_MISMATCHES)).rows;
  if (mismatches.length) {
    const sourceToo = sqlite.prepare(LEDGER_MISMATCHES).all().length > 0;
    for (const m of mismatches.slice(0, 20)) problems.push(`user ${m.userId}: credits ${m.credits} but the counting ledger rows sum to ${m.total}`);
    if (sourceToo) problems.push("the SQLite database already disagrees with its ledger: run npm run ledger:verify on it");
  }
  return problems;
}

/** Where the figures PostgreSQL's triggers rebuilt differ from SQLite's (as text: numbers and
 * numerics alike, in no particular order: the two sort text differently). */
async function derivedDifference(sqlite: Database.Database, client: pg.ClientBase, table: string): Promise<string[]> {
  const text = (rows: unknown[]) => rows.map((r) => JSON.stringify(Object.values(r as object).map(String)));
  const source = new Set(text(sqlite.prepare(DERIVED_TABLES[table]!).all()));
  const target = new Set(text((await client.query(DERIVED_TABLES[table]!)).rows));
  const missing = [...source].filter((r) => !target.has(r));
  const extra = [...target].filter((r) => !source.has(r));
  if (!missing.length && !extra.length) return [];
  const sample = [...missing.slice(0, 3).map((r) => `SQLite ${r}`), ...extra.slice(0, 3).map((r) => `PostgreSQL ${r}`)].join(", ");
  return [`${table}: the figures PostgreSQL rebuilt from the copied rows differ from SQLite's in ${Math.max(missing.length, extra.length)} group(s) (${sample}); run npm run ledger:verify on the source`];
}

export async function copySqliteToPostgres(
  sqlite: Database.Database,
  client: pg.ClientBase,
  options: { batchRows?: number; onTable?: (name: string, rows: number) => void } = {},
): Promise<CopyResult> {
  const started = performance.now();
  const tables = foreignKeyOrder(sqlite);
  sqlite.exec("BEGIN"); // one snapshot of the source for the copy and its checks
  try {
    sqlite.prepare("SELECT 1 FROM users LIMIT 1").get(); // the read snapshot starts here
    const difference = await schemaDifference(sqlite, client, tables);
    if (difference) return { ok: false, reason: "schema_mismatch", message: difference };
    await client.query("BEGIN");
    try {
      // Nothing else writes while the copy runs, and "empty" stays true until it commits.
      await client.query(`LOCK TABLE ${tables.map(quote).join(", ")} IN ACCESS EXCLUSIVE MODE`);
      const occupied: string[] = [];
      for (const table of tables) if ((await client.query(`SELECT 1 FROM ${quote(table)} LIMIT 1`)).rowCount) occupied.push(table);
      if (occupied.length) {
        await client.query("ROLLBACK");
        return { ok: false, reason: "target_not_empty", message: `the PostgreSQL database already holds rows (${occupied.join(", ")}): the copy needs an empty, migrated database` };
      }
      const copied: Array<{ name: string; rows: number }> = [];
      for (const table of tables.filter((t) => !(t in DERIVED_TABLES))) {
        const rows = await copyTable(sqlite, client, table, options.batchRows ?? COPY_BATCH_ROWS);
        copied.push({ name: table, rows });
        options.onTable?.(table, rows);
      }
      const sequences = await resetSequences(sqlite, client);
      const problems = await verifyCopy(sqlite, client, tables);
      if (problems.length) {
        await client.query("ROLLBACK");
        return { ok: false, reason: "mismatch", message: problems.join("; ") };
      }
      await client.query("COMMIT");
      const users = copied.find((t) => t.name === "users")?.rows ?? 0;
      return { ok: true, tables: copied, sequences, users, ms: Math.round(performance.now() - started) };
    } catch (error) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw error;
    }
  } finally {
    sqlite.exec("COMMIT");
  }
}
