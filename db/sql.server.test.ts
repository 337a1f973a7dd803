import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startPostgres, type PgServer } from "../tests/support/postgres";
import { openPgDatabase } from "./pg-client.server";
import { cachedOf, openSqliteSql, pgSql, sqliteTextOf, STATEMENT_CACHE_MAX, toPgPlaceholders, type SqlDb } from "./sql.server";

// The executor's contract (decision 036), the same on SQLite and on a real PostgreSQL: what the
// money path will rely on when it moves onto it.

describe("placeholders for PostgreSQL", () => {
  it.each([
    ["SELECT * FROM t WHERE a = ? AND b = ?", "SELECT * FROM t WHERE a = $1 AND b = $2", null],
    ["INSERT INTO t (a, b) VALUES (@a, @b) ON CONFLICT DO NOTHING", "INSERT INTO t (a, b) VALUES ($1, $2) ON CONFLICT DO NOTHING", ["a", "b"]],
    ["UPDATE t SET a = @a WHERE a = @a OR b = @b", "UPDATE t SET a = $1 WHERE a = $1 OR b = $2", ["a", "b"]],
    ["SELECT '?' AS q, 'it''s @x' AS s, \"odd?col\" FROM t WHERE a = ?", "SELECT '?' AS q, 'it''s @x' AS s, \"odd?col\" FROM t WHERE a = $1", null],
    ["SELECT 1 -- is it ? @x\nFROM t WHERE a = ?", "SELECT 1 -- is it ? @x\nFROM t WHERE a = $1", null],
    ["SELECT a @> b FROM t", "SELECT a @> b FROM t", null],
  ])("%j", (text, expected, names) => {
    const t = toPgPlaceholders(text);
    expect(t.text).toBe(expected);
    expect(t.names).toEqual(names);
  });

  it.each([
    ["mixed kinds", "SELECT ? , @a"],
    ["an unterminated string", "SELECT 'open"],
    ["an unterminated identifier", 'SELECT "open'],
  ])("refuses %s", (_name, text) => {
    expect(() => toPgPlaceholders(text)).toThrow();
  });
});

type Engine = { name: string; open: () => Promise<SqlDb> };
let pgServer: PgServer;
const dirs: string[] = [];

beforeAll(async () => {
  pgServer = await startPostgres();
}, 60_000);
afterAll(async () => {
  await pgServer?.stop();
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

const engines: Engine[] = [
  {
    name: "SQLite",
    open: async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "credits-sql-"));
      dirs.push(dir);
      return openSqliteSql(path.join(dir, "t.sqlite"));
    },
  },
  { name: "PostgreSQL", open: async () => pgSql(openPgDatabase(await pgServer.createDatabase(), { max: 20 }).pool) },
];

// Portable DDL: what both engines accept as written.
const SCHEMA = [
  "CREATE TABLE accounts (id bigint PRIMARY KEY, credits bigint NOT NULL CHECK (credits >= 0))",
  "CREATE TABLE moves (id bigint PRIMARY KEY, account_id bigint NOT NULL REFERENCES accounts (id), amount bigint NOT NULL, k text NOT NULL UNIQUE)",
];

describe.each(engines)("the executor on $name", (engine) => {
  let db: SqlDb;
  let nextId = 0;
  beforeAll(async () => {
    db = await engine.open();
    for (const ddl of SCHEMA) await db.run(ddl);
  });
  afterAll(async () => {
    await db?.close();
  });

  async function account(credits: number): Promise<number> {
    const id = ++nextId;
    await db.run("INSERT INTO accounts (id, credits) VALUES (?, ?)", [id, credits]);
    return id;
  }
  const creditsOf = async (id: number) => (await db.get<{ credits: number }>("SELECT credits FROM accounts WHERE id = ?", [id]))!.credits;
  const movesOf = async (id: number) => (await db.get<{ n: number; total: number | null }>("SELECT count(*) AS n, sum(amount) AS total FROM moves WHERE account_id = ?", [id]))!;

  /** The guarded debit and its row, in one transaction; false when there was too little. */
  const spend = (id: number, amount: number, key: string) =>
    db.write(async (tx) => {
      const debited = await tx.get<{ credits: number }>("UPDATE accounts SET credits = credits - @amount WHERE id = @id AND credits >= @amount RETURNING credits", { id, amount });
      if (!debited) return false;
      await tx.run("INSERT INTO moves (id, account_id, amount, k) VALUES (?, ?, ?, ?)", [++nextId, id, amount, key]);
      return true;
    });

  it("commits a body that resolves and keeps nothing of one that throws", async () => {
    const id = await account(10);
    expect(await spend(id, 4, `commit-${id}`)).toBe(true);
    await expect(
      db.write(async (tx) => {
        await tx.run("UPDATE accounts SET credits = 0 WHERE id = ?", [id]);
        throw new Error("changed my mind");
      }),
    ).rejects.toThrow("changed my mind");
    expect(await creditsOf(id)).toBe(6);
  });

  it("a constraint violation rolls the whole body back, and the next write goes through", async () => {
    const id = await account(5);
    await expect(spend(id, 6, `over-${id}`)).resolves.toBe(false);
    await expect(
      db.write(async (tx) => {
        await tx.run("INSERT INTO moves (id, account_id, amount, k) VALUES (?, ?, ?, ?)", [++nextId, id, 1, `dup-${id}`]);
        await tx.run("INSERT INTO moves (id, account_id, amount, k) VALUES (?, ?, ?, ?)", [++nextId, id, 1, `dup-${id}`]);
      }),
    ).rejects.toThrow();
    expect(await movesOf(id)).toMatchObject({ n: 0 });
    expect(await spend(id, 5, `after-${id}`)).toBe(true);
    expect(await creditsOf(id)).toBe(0);
  });

  it("60 spends at once from 20 credits: exactly 20 succeed and the rows explain the balance", async () => {
    const id = await account(20);
    const results = await Promise.all(Array.from({ length: 60 }, (_, i) => spend(id, 1, `burst-${id}-${i}`)));
    expect(results.filter(Boolean)).toHaveLength(20);
    expect(await creditsOf(id)).toBe(0);
    expect(await movesOf(id)).toEqual({ n: 20, total: 20 });
  });

  it("one idempotency key written by 20 writers at once gives one row", async () => {
    const id = await account(0);
    const key = `once-${id}`;
    const rows = await Promise.all(
      Array.from({ length: 20 }, () =>
        db.write((tx) => tx.get<{ id: number }>("INSERT INTO moves (id, account_id, amount, k) VALUES (?, ?, 1, ?) ON CONFLICT (k) DO NOTHING RETURNING id", [++nextId, id, key])),
      ),
    );
    expect(rows.filter((r) => r !== undefined)).toHaveLength(1);
    expect(await movesOf(id)).toMatchObject({ n: 1 });
  });

  it("a read outside write never sees a body's uncommitted rows", async () => {
    const id = await account(3);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let started!: () => void;
    const inside = new Promise<void>((r) => (started = r));
    const writing = db.write(async (tx) => {
      await tx.run("UPDATE accounts SET credits = 99 WHERE id = ?", [id]);
      started();
      await gate;
    });
    await inside;
    expect(await creditsOf(id)).toBe(3);
    release();
    await writing;
    expect(await creditsOf(id)).toBe(99);
  });

  it("a transaction handle kept after its body ended refuses to run", async () => {
    let leaked!: Parameters<Parameters<SqlDb["write"]>[0]>[0];
    await db.write(async (tx) => {
      leaked = tx;
    });
    await expect(leaked.run("UPDATE accounts SET credits = 0")).rejects.toThrow(/transaction has ended/);
  });

  it("exclusive(): one pass of a name at a time, other names alongside, and a failed pass lets go", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const ran: string[] = [];
    const first = db.exclusive("sweeper", async () => {
      ran.push("first");
      await gate;
    });
    await new Promise((r) => setTimeout(r, 20));
    const overlapping = await Promise.all([1, 2, 3].map(() => db.exclusive("sweeper", async () => void ran.push("overlap"))));
    const other = await db.exclusive("mail", async () => void ran.push("mail"));
    release();
    expect(await first).toBe(true);
    expect(overlapping).toEqual([false, false, false]);
    expect(other).toBe(true);
    await expect(db.exclusive("sweeper", async () => Promise.reject(new Error("pass failed")))).rejects.toThrow("pass failed");
    expect(await db.exclusive("sweeper", async () => void ran.push("after"))).toBe(true);
    expect(ran).toEqual(["first", "mail", "after"]);
  });

  it("a row read FOR NO KEY UPDATE stays the body's until it ends: 20 read-then-write bodies lose no update", async () => {
    const id = await account(0);
    // Each body reads the balance, waits a turn of the database, then writes what it read plus one:
    // without the lock, bodies on PostgreSQL would read the same value and overwrite each other.
    await Promise.all(
      Array.from({ length: 20 }, () =>
        db.write(async (tx) => {
          const row = await tx.get<{ credits: number }>("SELECT credits FROM accounts WHERE id = ? FOR NO KEY UPDATE", [id]);
          await tx.get("SELECT count(*) AS n FROM moves");
          await tx.run("UPDATE accounts SET credits = ? WHERE id = ?", [row!.credits + 1, id]);
        }),
      ),
    );
    expect(await creditsOf(id)).toBe(20);
  });

  it("int8 values (epoch milliseconds, counts) come back as numbers", async () => {
    const id = await account(Date.now());
    const row = await db.get<{ credits: number; n: number }>("SELECT credits, (SELECT count(*) FROM accounts) AS n FROM accounts WHERE id = ?", [id]);
    expect(typeof row!.credits).toBe("number");
    expect(typeof row!.n).toBe("number");
  });
});

describe("the statement cache", () => {
  it("keeps each text once, and past its bound drops the oldest: 10,000 distinct texts never hold more than the bound", () => {
    const map = new Map<string, number>();
    let made = 0;
    for (let i = 0; i < 10_000; i++) cachedOf(map, `SELECT ${i}`, () => ++made);
    expect(made).toBe(10_000);
    expect(map.size).toBe(STATEMENT_CACHE_MAX);
    expect(map.has("SELECT 9999")).toBe(true);
    expect(map.has("SELECT 0")).toBe(false);
    // A text asked for again is not made again while it is kept.
    expect(cachedOf(map, "SELECT 9999", () => ++made)).toBe(10_000);
    expect(made).toBe(10_000);
  });

  it.each(engines.map((e) => [e.name, e] as const))("on %s, 2,000 distinct statements run as asked (dropped ones are prepared again)", async (_name, engine) => {
    const db = await engine.open();
    try {
      for (let i = 0; i < 2_000; i++) expect(await db.get<{ n: number }>(`SELECT ${i} AS n`)).toEqual({ n: i });
      expect(await db.get<{ n: number }>("SELECT 0 AS n")).toEqual({ n: 0 });
    } finally {
      await db.close();
    }
  });
});

describe("the row-lock clause on SQLite", () => {
  it("drops only a trailing FOR NO KEY UPDATE, whatever its case and spacing", () => {
    const table: Array<[string, string]> = [
      ["SELECT id FROM users WHERE id = ? FOR NO KEY UPDATE", "SELECT id FROM users WHERE id = ?"],
      ["SELECT id FROM users WHERE id = ?\n     for  no key\tupdate  ", "SELECT id FROM users WHERE id = ?"],
      // Not trailing, not this clause, or inside a literal: left for SQLite to refuse or run as written.
      ["SELECT 'FOR NO KEY UPDATE' AS s", "SELECT 'FOR NO KEY UPDATE' AS s"],
      ["SELECT id FROM users FOR UPDATE", "SELECT id FROM users FOR UPDATE"],
      ["SELECT id FROM (SELECT id FROM users FOR NO KEY UPDATE) x", "SELECT id FROM (SELECT id FROM users FOR NO KEY UPDATE) x"],
      ["SELECT id FROM users WHERE note = 'x FOR NO KEY UPDATE'", "SELECT id FROM users WHERE note = 'x FOR NO KEY UPDATE'"],
    ];
    for (const [text, runs] of table) expect(sqliteTextOf(text), text).toBe(runs);
  });
});

describe("group commit on SQLite", () => {
  const CREATE = "CREATE TABLE IF NOT EXISTS rows_ (id bigint PRIMARY KEY, v text NOT NULL)";
  async function fresh(options: Parameters<typeof openSqliteSql>[1] = {}) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "credits-sql-gc-"));
    dirs.push(dir);
    const db = openSqliteSql(path.join(dir, "gc.sqlite"), options);
    await db.run(CREATE);
    return db;
  }

  it("bodies that arrive together share one commit; one that throws is undone alone", async () => {
    const commits: number[] = [];
    const db = await fresh({ onCommit: (n) => commits.push(n) });
    commits.length = 0;
    const results = await Promise.allSettled(
      Array.from({ length: 50 }, (_, i) =>
        db.write(async (tx) => {
          await tx.run("INSERT INTO rows_ (id, v) VALUES (?, ?)", [i, `row ${i}`]);
          if (i === 17) throw new Error("body 17 fails");
          return i;
        }),
      ),
    );
    expect(results.filter((r) => r.status === "rejected")).toHaveLength(1);
    expect((results[17] as PromiseRejectedResult).reason.message).toBe("body 17 fails");
    expect(commits.reduce((a, b) => a + b, 0)).toBe(50);
    expect(commits.length).toBeLessThan(5);
    const ids = (await db.all<{ id: number }>("SELECT id FROM rows_ ORDER BY id")).map((r) => r.id);
    expect(ids).toEqual(Array.from({ length: 50 }, (_, i) => i).filter((i) => i !== 17));
    await db.close();
  });

  it("each write is answered only once its commit is durable: a reader finds its row at that moment", async () => {
    const db = await fresh();
    const seen = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        db.write((tx) => tx.run("INSERT INTO rows_ (id, v) VALUES (?, 'x')", [1000 + i])).then(() => db.get("SELECT id FROM rows_ WHERE id = ?", [1000 + i])),
      ),
    );
    expect(seen.every((row) => row !== undefined)).toBe(true);
    await db.close();
  });

  it("maxBatch 1 commits every body on its own", async () => {
    const commits: number[] = [];
    const db = await fresh({ maxBatch: 1, onCommit: (n) => commits.push(n) });
    commits.length = 0;
    await Promise.all(Array.from({ length: 10 }, (_, i) => db.write((tx) => tx.run("INSERT INTO rows_ (id, v) VALUES (?, 'x')", [2000 + i]))));
    expect(commits).toEqual(Array(10).fill(1));
    await db.close();
  });

  it("a write() from inside a body is refused instead of waiting for itself", async () => {
    const db = await fresh();
    await expect(db.write(() => db.write(async () => 1))).rejects.toThrow(/inside a write body/);
    expect(await db.write(async () => "still working")).toBe("still working");
    await db.close();
  });
});

describe("exclusive() across instances on one PostgreSQL", () => {
  it("two instances' passes of one name never overlap; a dead instance's lock is let go", async () => {
    const url = await pgServer.createDatabase();
    const a = pgSql(openPgDatabase(url, { max: 3 }).pool);
    const b = pgSql(openPgDatabase(url, { max: 3 }).pool);
    try {
      let inside = 0;
      let most = 0;
      let runs = 0;
      const pass = async () => {
        inside++;
        most = Math.max(most, inside);
        runs++;
        await new Promise((r) => setTimeout(r, 15));
        inside--;
      };
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).exclusive("reconciler", pass)));
      expect(most).toBe(1);
      expect(results.filter(Boolean).length).toBe(runs);
      expect(runs).toBeGreaterThanOrEqual(1);
      // An instance that dies mid-pass: its connection ends, and the server drops the lock with it.
      const dying = pgSql(openPgDatabase(url, { max: 1 }).pool);
      let entered!: () => void;
      const inPass = new Promise<void>((r) => (entered = r));
      const never = dying.exclusive("backup", async () => {
        entered();
        await new Promise(() => undefined);
      });
      await inPass;
      expect(await a.exclusive("backup", async () => undefined)).toBe(false);
      await b.run("SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND pid <> pg_backend_pid()");
      void never.catch(() => undefined);
      await expect.poll(() => a.exclusive("backup", async () => undefined), { timeout: 5000 }).toBe(true);
    } finally {
      await a.close();
      await b.close();
    }
  });
});

describe("PostgreSQL numeric results", () => {
  it("sum() and avg() answer numbers; a value a number cannot hold exactly is an error, not a rounded total", async () => {
    const db = pgSql(openPgDatabase(await pgServer.createDatabase(), { max: 2 }).pool);
    try {
      expect(await db.get("SELECT sum(x) AS s, avg(x) AS a FROM (VALUES (1::bigint), (2::bigint)) v(x)")).toEqual({ s: 3, a: 1.5 });
      expect(await db.get("SELECT 2.50::numeric AS n")).toEqual({ n: 2.5 });
      await expect(db.get("SELECT 9007199254740993::numeric AS n")).rejects.toThrow(/does not fit/);
      await expect(db.get("SELECT 0.1234567890123456789::numeric AS n")).rejects.toThrow(/does not fit/);
    } finally {
      await db.close();
    }
  });
});

describe("the executor on PostgreSQL retries a serialization failure", () => {
  it("two SERIALIZABLE bodies that conflict both commit, one after a retry", async () => {
    const db = pgSql(openPgDatabase(await pgServer.createDatabase(), { max: 4 }).pool);
    try {
      await db.run("CREATE TABLE counters (id bigint PRIMARY KEY, n bigint NOT NULL)");
      await db.run("INSERT INTO counters (id, n) VALUES (1, 0), (2, 0)");
      let runs = 0;
      let both!: () => void;
      let arrived = 0;
      const bothRead = new Promise<void>((r) => (both = r));
      // Each reads the other's row and writes its own (write skew): SERIALIZABLE refuses one.
      const body = (mine: number, theirs: number) =>
        db.write(async (tx) => {
          runs++;
          await tx.run("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE");
          const other = (await tx.get<{ n: number }>("SELECT n FROM counters WHERE id = ?", [theirs]))!.n;
          if (++arrived === 2) both();
          await Promise.race([bothRead, new Promise((r) => setTimeout(r, 2000))]);
          await tx.run("UPDATE counters SET n = ? WHERE id = ?", [other + 1, mine]);
        });
      await Promise.all([body(1, 2), body(2, 1)]);
      expect(runs).toBeGreaterThan(2);
      const rows = await db.all<{ id: number; n: number }>("SELECT id, n FROM counters ORDER BY id");
      expect(rows.map((r) => r.n).sort()).toEqual([1, 2]);
    } finally {
      await db.close();
    }
  });
});
