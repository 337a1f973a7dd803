import Database from "better-sqlite3";
import type pg from "pg";

/**
 * One asynchronous way to run the app's SQL on SQLite and on PostgreSQL (decision 036, proposed):
 * the executor the money path moves onto. Nothing in the app uses it yet; this module and its
 * contract test (run on both engines) come first so the port has one tested base.
 *
 * - SQL text is shared: `?` or `@name` placeholders (rewritten once per text to `$n` for
 *   PostgreSQL), RETURNING, ON CONFLICT. Rows come back in the same shape on both (int8 as numbers:
 *   see db/pg-client.server.ts).
 * - `write(body)` is all or nothing, answered once durable. On SQLite the bodies run one at a
 *   time on the writer connection, in arrival order (an async body would otherwise interleave its
 *   statements with another's on the one connection), and those waiting together share one commit
 *   (group commit, each in a savepoint). Reads outside `write` use a second connection, which sees
 *   committed rows only (WAL), never a body's half-done work.
 * - On PostgreSQL `write` is BEGIN … COMMIT on a pooled connection (READ COMMITTED); a
 *   serialization failure or a deadlock is retried, so a body must not act outside the database.
 */

export type Params = readonly unknown[] | Readonly<Record<string, unknown>>;

/** `all` and `get` are for statements that return rows (SELECT, or a write with RETURNING). */
export interface SqlRunner {
  all<T>(text: string, params?: Params): Promise<T[]>;
  get<T>(text: string, params?: Params): Promise<T | undefined>;
  run(text: string, params?: Params): Promise<{ changes: number }>;
}

export interface SqlDb extends SqlRunner {
  readonly dialect: "sqlite" | "postgres";
  /** Runs `body` as one transaction: committed when it resolves, rolled back when it throws. */
  write<T>(body: (tx: SqlRunner) => Promise<T>): Promise<T>;
  /**
   * Runs `pass` unless another pass of the same name holds the lock, in this process or (on
   * PostgreSQL, an advisory lock) in any instance on the database: for the background singletons
   * (the hold sweeper, the mail sender, auto-recharge, the backup schedule). Answers whether it ran.
   * The pass itself uses the executor as usual; the lock only keeps two passes from overlapping.
   */
  exclusive(name: string, pass: () => Promise<void>): Promise<boolean>;
  close(): Promise<void>;
}

/** Names held by a pass in this process: SQLite's exclusive(), and PostgreSQL's first line. */
function localLocks() {
  const held = new Set<string>();
  return async (name: string, pass: () => Promise<void>, inner: () => Promise<boolean> = async () => (await pass(), true)) => {
    if (held.has(name)) return false;
    held.add(name);
    try {
      return await inner();
    } finally {
      held.delete(name);
    }
  };
}

// ---------------------------------------------------------------------------------------------
// Placeholders: `?` and `@name` outside string literals, quoted identifiers and comments.

export type Translated = { text: string; names: string[] | null; count: number };

/** Rewrites `?` / `@name` to `$1…$n`. Named placeholders that repeat reuse their number. */
export function toPgPlaceholders(text: string): Translated {
  let out = "";
  let positional = 0;
  const names: string[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === "'" || c === '"') {
      const end = closingQuote(text, i, c);
      out += text.slice(i, end);
      i = end;
    } else if (c === "-" && text[i + 1] === "-") {
      const end = text.indexOf("\n", i);
      const stop = end === -1 ? text.length : end;
      out += text.slice(i, stop);
      i = stop;
    } else if (c === "?") {
      out += `$${++positional}`;
      i++;
    } else if (c === "@" && /[A-Za-z_]/.test(text[i + 1] ?? "")) {
      const match = /^@([A-Za-z_][A-Za-z0-9_]*)/.exec(text.slice(i))!;
      let index = names.indexOf(match[1]!);
      if (index === -1) index = names.push(match[1]!) - 1;
      out += `$${index + 1}`;
      i += match[0].length;
    } else {
      out += c;
      i++;
    }
  }
  if (positional && names.length) throw new Error("SQL mixes ? and @name placeholders");
  return { text: out, names: names.length ? names : null, count: positional || names.length };
}

function closingQuote(text: string, start: number, quote: string): number {
  let i = start + 1;
  while (i < text.length) {
    if (text[i] === quote) {
      if (text[i + 1] === quote) i += 2; // '' or "" inside: an escaped quote
      else return i + 1;
    } else i++;
  }
  throw new Error(`unterminated ${quote} in SQL`);
}

function pgValues(t: Translated, params: Params | undefined): unknown[] {
  if (t.names) {
    if (!params || Array.isArray(params)) throw new Error("SQL with @name placeholders needs an object of parameters");
    const named = params as Readonly<Record<string, unknown>>;
    return t.names.map((n) => {
      if (!(n in named)) throw new Error(`missing SQL parameter @${n}`);
      return named[n];
    });
  }
  const list = (params ?? []) as readonly unknown[];
  if (!Array.isArray(list)) throw new Error("SQL with ? placeholders needs an array of parameters");
  if (list.length !== t.count) throw new Error(`SQL expects ${t.count} parameters, got ${list.length}`);
  return [...list];
}

// ---------------------------------------------------------------------------------------------
// SQLite

type Statements = Map<string, Database.Statement>;

/**
 * The prepared statements (SQLite) and placeholder translations (PostgreSQL) kept per text. The
 * app's texts are a fixed set, but a text built with a list of placeholders (`IN (?, ?, …)`) or a
 * caller's mistake could make new ones without end: past this many, the oldest is dropped (and
 * prepared again if it comes back), so the cache cannot grow a long-running server's memory.
 */
export const STATEMENT_CACHE_MAX = 500;

/** `map.get(key)`, or `make()` remembered under it, the oldest entry dropped past STATEMENT_CACHE_MAX. */
export function cachedOf<T>(map: Map<string, T>, key: string, make: () => T): T {
  let value = map.get(key);
  if (value === undefined) {
    value = make();
    if (map.size >= STATEMENT_CACHE_MAX) map.delete(map.keys().next().value!);
    map.set(key, value);
  }
  return value;
}

// A row lock, written once for both engines: `SELECT … FOR NO KEY UPDATE` (the lock an UPDATE of
// non-key columns takes, so foreign-key checks of other writers do not wait on it) is what
// PostgreSQL needs where a body reads a row before it decides; on SQLite every write body already
// holds the database's write lock (BEGIN IMMEDIATE, one body at a time), so the clause is dropped.
// Only a trailing clause, on the outermost SELECT.
const TRAILING_ROW_LOCK = /\s+FOR\s+NO\s+KEY\s+UPDATE\s*$/i;

/** The statement SQLite runs for a portable text (the row-lock clause dropped). */
export function sqliteTextOf(text: string): string {
  return TRAILING_ROW_LOCK.test(text) ? text.replace(TRAILING_ROW_LOCK, "") : text;
}

function sqliteRunner(connection: Database.Database, statements: Statements, open: () => boolean = () => true): SqlRunner {
  const statement = (text: string) => {
    if (!open()) throw new Error("this transaction has ended: its handle cannot run more SQL");
    return cachedOf<Database.Statement>(statements, text, () => connection.prepare(sqliteTextOf(text)));
  };
  const bind = (params: Params | undefined): unknown[] => (params === undefined ? [] : Array.isArray(params) ? [...params] : [params]);
  return {
    async all<T>(text: string, params?: Params) {
      return statement(text).all(...bind(params)) as T[];
    },
    async get<T>(text: string, params?: Params) {
      return statement(text).get(...bind(params)) as T | undefined;
    },
    async run(text: string, params?: Params) {
      return { changes: statement(text).run(...bind(params)).changes };
    },
  };
}

export type SqliteSqlOptions = {
  busyTimeoutMs?: number;
  /** The most write bodies one commit carries (group commit, issue 19). 1: a commit per body. */
  maxBatch?: number;
  /** Called after each durable COMMIT with the number of bodies it carried (tests, the bench). */
  onCommit?: (bodies: number) => void;
};

// The real scheduler, taken when this module loads: a test that fakes timers must not stop the
// writer's queue (nothing would ever commit).
const nextTurn = globalThis.setImmediate;
const cancelTurn = globalThis.clearImmediate;


type Job = { body: (tx: SqlRunner) => Promise<unknown>; resolve: (value: unknown) => void; reject: (error: unknown) => void };

/**
 * The SQLite executor on one file: a writer connection with its queue, and a reader connection.
 *
 * Group commit: the bodies waiting when the writer comes free run in ONE transaction, each inside
 * its own SAVEPOINT, in arrival order, and one durable COMMIT (synchronous=FULL) ends them all;
 * only then is any of them answered. A body that throws is rolled back to its savepoint alone —
 * the others in its batch are kept. If the COMMIT itself fails, every body of the batch fails.
 */
export function openSqliteSql(file: string, options: SqliteSqlOptions = {}): SqlDb {
  if (file === ":memory:") throw new Error("the SQLite executor needs a file: its reader is a second connection");
  const writer = sqlitePragmas(new Database(file), options.busyTimeoutMs);
  const executor = sqliteSqlOn(writer, file, options);
  return {
    ...executor,
    async close() {
      await executor.close();
      writer.close();
    },
  };
}

/** The per-connection page cache (decision 039 addendum): bounded, resident only as it fills. */
export const PAGE_CACHE_KIB = 32 * 1024;

/**
 * The pragmas of every connection the app opens (the writer, the reader, scripts): one home.
 * synchronous=FULL: decision 002. The page cache: SQLite's default is 2 MiB, and on a file of a
 * million ledger rows a page of 50 users re-read most of its index pages from the OS, a syscall
 * each; 32 MiB, filled only as pages are read, so a small database never gets there.
 */
export function sqlitePragmas(c: Database.Database, busyTimeoutMs = 5000): Database.Database {
  if (!c.readonly) c.pragma("journal_mode = WAL");
  c.pragma("synchronous = FULL");
  c.pragma("foreign_keys = ON");
  c.pragma(`cache_size = ${-PAGE_CACHE_KIB}`);
  c.pragma(`busy_timeout = ${Math.max(0, Math.trunc(busyTimeoutMs))}`);
  return c;
}

/** The SQLite executor, owned by the caller's connection. */
export type SqliteSql = SqlDb & {
  /** Closes the reader at once (the caller closes the writer); for a synchronous shutdown. */
  closeReader(): void;
};

/**
 * The executor on a connection the app already has open (db/client.server.ts): its write bodies
 * run on that same connection. While the app's services move onto the executor one by one, a
 * not-yet-ported statement a body runs on that connection (drizzle, a prepared statement) is
 * inside the body's transaction, as it was inside the `.immediate()` it replaces; outside bodies
 * nothing can interleave with a batch, because a batch runs from BEGIN to COMMIT within one turn
 * of the event loop (its bodies await only the database, which answers synchronously here) —
 * a body that waits on anything else is refused (see `crossedTurn`).
 * The reader connection opens on first use (`:memory:`: reads use the writer itself).
 */
export function sqliteSqlOn(writer: Database.Database, file: string, options: SqliteSqlOptions = {}): SqliteSql {
  const maxBatch = Math.max(1, Math.trunc(options.maxBatch ?? 256));
  const writerStatements: Statements = new Map();
  let reader: Database.Database | null = null;
  let reads: SqlRunner | null = null;
  const readRunner = (): SqlRunner => {
    if (!reads) {
      reader = file === ":memory:" ? writer : sqlitePragmas(new Database(file), options.busyTimeoutMs);
      reads = sqliteRunner(reader, new Map());
    }
    return reads;
  };
  const closeReader = () => {
    if (reader && reader !== writer && reader.open) reader.close();
    reader = null;
    reads = null;
  };
  // Transaction control, prepared once (as better-sqlite3's own transactions do).
  const control = {
    begin: writer.prepare("BEGIN IMMEDIATE"),
    commit: writer.prepare("COMMIT"),
    rollback: writer.prepare("ROLLBACK"),
    savepoint: writer.prepare("SAVEPOINT body"),
    release: writer.prepare("RELEASE body"),
    rollbackTo: writer.prepare("ROLLBACK TO body"),
  };
  // True from BEGIN to the end of a batch. A batch runs within one turn of the event loop, so a
  // write() while it is open comes from inside one of its bodies, and would wait for itself.
  // (Cheaper than AsyncLocalStorage, whose promise hooks slow every await in the process.)
  let batchOpen = false;
  const locks = localLocks();
  const pending: Job[] = [];
  let draining: Promise<void> | null = null;

  function enqueue<T>(body: (tx: SqlRunner) => Promise<T>): Promise<T> {
    if (batchOpen) return Promise.reject(new Error("write() inside a write body would wait for itself: use the body's tx"));
    return new Promise<T>((resolve, reject) => {
      pending.push({ body, resolve: resolve as (value: unknown) => void, reject });
      // setImmediate, not a microtask: requests that arrive in the same turn of the event loop
      // join the batch instead of each taking a commit of its own.
      if (!draining) draining = new Promise<void>((done) => nextTurn(() => void drain().finally(done)));
    });
  }

  async function drain(): Promise<void> {
    try {
      while (pending.length) await runBatch(pending.splice(0, maxBatch));
    } finally {
      draining = null;
      if (pending.length) draining = new Promise<void>((done) => nextTurn(() => void drain().finally(done)));
    }
  }

  async function runBatch(batch: Job[]): Promise<void> {
    try {
      control.begin.run();
    } catch (error) {
      for (const job of batch) job.reject(error);
      return;
    }
    batchOpen = true;
    try {
      await runBodies(batch);
    } finally {
      batchOpen = false; // runBodies closes it before answering; this covers a throw
    }
  }

  const CROSSED = "a write body waited on something other than the database: its transaction cannot stay open across turns of the event loop";

  async function runBodies(batch: Job[]): Promise<void> {
    const outcomes: Array<{ job: Job; ok: true; value: unknown } | { job: Job; ok: false; error: unknown }> = [];
    // A batch of one needs no savepoint: its failure rolls the transaction back.
    const alone = batch.length === 1;
    // Fires at the next turn of the event loop: if the batch is still open then, a body waited on
    // something other than the database, and other code may have run on this connection inside
    // the open transaction. Its next statement is refused, so the body fails instead.
    let crossedTurn = false;
    const probe = nextTurn(() => {
      crossedTurn = true;
    });
    for (let i = 0; i < batch.length; i++) {
      const job = batch[i]!;
      if (crossedTurn) {
        // The bodies still waiting did nothing wrong: they go back to the queue for a fresh batch.
        pending.unshift(...batch.slice(i));
        break;
      }
      let open = true;
      if (!alone) control.savepoint.run();
      try {
        const value = await job.body(sqliteRunner(writer, writerStatements, () => {
          if (crossedTurn) throw new Error(CROSSED);
          return open;
        }));
        if (crossedTurn) throw new Error(CROSSED);
        if (!alone) control.release.run();
        outcomes.push({ job, ok: true, value });
      } catch (error) {
        if (!writer.inTransaction) {
          // SQLite ended the whole transaction (a full disk, an I/O error): every body so far is
          // gone with it; the rest of the batch goes back to the queue for a fresh transaction.
          cancelTurn(probe);
          batchOpen = false;
          for (const o of outcomes) o.job.reject(new Error("the write was rolled back with its batch", { cause: error }));
          job.reject(error);
          pending.unshift(...batch.slice(i + 1));
          return;
        }
        if (alone) {
          cancelTurn(probe);
          control.rollback.run();
          batchOpen = false;
          job.reject(error);
          return;
        }
        control.rollbackTo.run();
        control.release.run();
        outcomes.push({ job, ok: false, error });
      } finally {
        open = false;
      }
    }
    cancelTurn(probe);
    try {
      control.commit.run();
    } catch (error) {
      if (writer.inTransaction) control.rollback.run();
      batchOpen = false;
      for (const o of outcomes) o.job.reject(o.ok ? error : o.error);
      return;
    }
    // Closed before the answers: a caller that writes again as soon as it hears back is not inside.
    batchOpen = false;
    options.onCommit?.(outcomes.length);
    for (const o of outcomes) {
      if (o.ok) o.job.resolve(o.value);
      else o.job.reject(o.error);
    }
  }

  return {
    dialect: "sqlite",
    all: (text, params) => readRunner().all(text, params),
    get: (text, params) => readRunner().get(text, params),
    // A statement outside write() still waits its turn: it must not land inside another body's
    // open transaction on the writer connection.
    run: (text, params) => enqueue((tx) => tx.run(text, params)),
    write: (body) => enqueue(body),
    // One process owns a SQLite file (the server refuses a second writer), so a local lock is all.
    exclusive: (name, pass) => locks(name, pass),
    async close() {
      while (draining) await draining;
      closeReader();
    },
    closeReader,
  };
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

const RETRYABLE = new Set(["40001", "40P01"]); // serialization_failure, deadlock_detected
const MAX_ATTEMPTS = 5;

function pgRunner(query: pg.Pool | pg.PoolClient, cache: Map<string, Translated>, open: () => boolean = () => true): SqlRunner {
  const translated = (text: string) => {
    if (!open()) throw new Error("this transaction has ended: its handle cannot run more SQL");
    return cachedOf(cache, text, () => toPgPlaceholders(text));
  };
  const exec = async (text: string, params: Params | undefined) => {
    const t = translated(text);
    return query.query(t.text, pgValues(t, params));
  };
  return {
    async all<T>(text: string, params?: Params) {
      return (await exec(text, params)).rows as T[];
    },
    async get<T>(text: string, params?: Params) {
      return (await exec(text, params)).rows[0] as T | undefined;
    },
    async run(text: string, params?: Params) {
      return { changes: (await exec(text, params)).rowCount ?? 0 };
    },
  };
}

/** The PostgreSQL executor over a pool (db/pg-client.server.ts builds it from DATABASE_URL). */
export function pgSql(pool: pg.Pool): SqlDb {
  const cache = new Map<string, Translated>();
  const outside = pgRunner(pool, cache);
  const locks = localLocks();
  return {
    dialect: "postgres",
    all: (text, params) => outside.all(text, params),
    get: (text, params) => outside.get(text, params),
    run: (text, params) => outside.run(text, params),
    async write<T>(body: (tx: SqlRunner) => Promise<T>): Promise<T> {
      for (let attempt = 1; ; attempt++) {
        const client = await pool.connect();
        let open = true;
        try {
          await client.query("BEGIN");
          const result = await body(pgRunner(client, cache, () => open));
          await client.query("COMMIT");
          return result;
        } catch (error) {
          await client.query("ROLLBACK").catch(() => undefined);
          const code = (error as { code?: unknown }).code;
          if (typeof code !== "string" || !RETRYABLE.has(code) || attempt >= MAX_ATTEMPTS) throw error;
        } finally {
          open = false;
          client.release();
        }
      }
    },
    // A session-level advisory lock on a connection held for the pass: if this instance dies, the
    // server drops the connection and with it the lock, so a crash never leaves a singleton stuck.
    exclusive: (name, pass) =>
      locks(name, pass, async () => {
        const client = await pool.connect();
        // The connection sits idle while the pass runs on others: if it drops then, pg reports it
        // on the client, and an unheard 'error' would end the process. The lock went with it.
        let lost: Error | undefined;
        const onError = (error: Error) => void (lost = error);
        client.on("error", onError);
        try {
          const got = await client.query<{ ok: boolean }>("SELECT pg_try_advisory_lock(hashtext($1)) AS ok", [`credits:${name}`]);
          if (!got.rows[0]?.ok) return false;
          try {
            await pass();
            return true;
          } finally {
            if (!lost) await client.query("SELECT pg_advisory_unlock(hashtext($1))", [`credits:${name}`]).catch((e: Error) => void (lost = e));
          }
        } finally {
          client.off("error", onError);
          client.release(lost);
        }
      }),
    close: () => pool.end(),
  };
}
