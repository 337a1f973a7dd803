// A process that writes through the SQLite executor as fast as it can, 64 writes in flight, and
// prints the id of each write the moment it is acknowledged: the parent kills it with SIGKILL and
// checks that every acknowledged write is in the file (sql-executor-kill.test.ts).
import { openSqliteSql } from "../../db/sql.server";

const file = process.argv[2]!;
const db = openSqliteSql(file);
await db.run("CREATE TABLE IF NOT EXISTS acked (id bigint PRIMARY KEY, payload text NOT NULL)");
let next = 0;
async function writer(): Promise<never> {
  for (;;) {
    const id = ++next;
    await db.write(async (tx) => {
      await tx.run("INSERT INTO acked (id, payload) VALUES (?, ?)", [id, `payload ${id}`]);
    });
    process.stdout.write(`${id}\n`);
  }
}
process.stdout.write("ready\n");
await Promise.all(Array.from({ length: 64 }, writer));
