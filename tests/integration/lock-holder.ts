/**
 * Holds SQLite's write lock on a file from a second OS process, for generation-busy.test.ts:
 * `node --import tsx tests/integration/lock-holder.ts <file> <maxMs>` (child_process.fork). It
 * runs BEGIN IMMEDIATE, sends "locked", and commits when told "release" (or after maxMs, so a
 * failed test never leaves the lock behind), then sends "released" and exits.
 */
import Database from "better-sqlite3";

const [file, maxMs] = [process.argv[2]!, Number(process.argv[3] ?? 30_000)];
const sqlite = new Database(file);
sqlite.pragma("busy_timeout = 5000");
sqlite.exec("BEGIN IMMEDIATE");

const release = () => {
  if (sqlite.inTransaction) sqlite.exec("COMMIT");
  sqlite.close();
  process.send!("released", () => process.exit(0));
};
const backstop = setTimeout(release, maxMs);
process.on("message", (message) => {
  if (message !== "release") return;
  clearTimeout(backstop);
  release();
});
process.send!("locked");
