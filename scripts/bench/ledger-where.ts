// Where the time of a hold+post goes with many callers at once (issue 19: "the bench prints where
// time goes"): one pass of the module's concurrent pairs with every SQLite statement timed, as
// microseconds per pair, the statements' share of the wall time, and the rest (the executor, the
// ledger's JavaScript, waiting). The timing wraps better-sqlite3's Statement methods of this one
// connection's prototype for the pass only, so it adds a little to every statement: the split is
// what to read, not the rate.
import type Database from "better-sqlite3";

type Timed = { wallMs: number; sqlMs: number; perStatement: Array<{ sql: string; usPerPair: number }> };

export async function whereTimeGoes(sqlite: Database.Database, pairs: number, run: (n: number) => void | Promise<void>): Promise<Timed> {
  const proto = Object.getPrototypeOf(sqlite.prepare("SELECT 1")) as Record<"run" | "get" | "all", (...a: unknown[]) => unknown>;
  const originals = { run: proto.run, get: proto.get, all: proto.all };
  const spent = new Map<string, number>();
  for (const method of ["run", "get", "all"] as const) {
    const original = originals[method];
    proto[method] = function (this: Database.Statement, ...args: unknown[]) {
      const start = performance.now();
      try {
        return original.apply(this, args);
      } finally {
        const key = this.source.replace(/\s+/g, " ").trim().slice(0, 60);
        spent.set(key, (spent.get(key) ?? 0) + performance.now() - start);
      }
    };
  }
  const started = performance.now();
  try {
    await run(pairs);
  } finally {
    Object.assign(proto, originals);
  }
  const wallMs = performance.now() - started;
  let sqlMs = 0;
  for (const ms of spent.values()) sqlMs += ms;
  const perStatement = [...spent]
    .sort((a, b) => b[1] - a[1])
    .map(([sql, ms]) => ({ sql, usPerPair: Math.round((ms / pairs) * 10000) / 10 }));
  return { wallMs, sqlMs, perStatement };
}

export function printWhereTimeGoes(t: Timed, pairs: number, callers: number): void {
  const us = (ms: number) => ((ms / pairs) * 1000).toFixed(1);
  console.log(`  where a pair's time goes, ${callers} callers (${pairs} pairs, every statement timed): ${us(t.wallMs)} µs per pair of wall time`);
  console.log(`    ${us(t.sqlMs)} µs in SQLite statements (${Math.round((t.sqlMs / t.wallMs) * 100)} %, triggers and index updates included), the rest in the executor, the ledger's JavaScript and waiting`);
  for (const s of t.perStatement.slice(0, 10)) console.log(`    ${s.usPerPair.toFixed(1).padStart(6)} µs  ${s.sql}`);
}
