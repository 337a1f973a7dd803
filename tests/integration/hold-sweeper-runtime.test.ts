import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeDatabase, openDatabase, type AppDb } from "../../db/client.server";
import { getBalance, hold } from "../../app/services/money/ledger.server";
import { HttpClient, startServer, type RunningServer } from "../support/server";

// The running app gives back a hold that nobody finished: the sweeper is started with the server
// and voids the hold once its timeout passes. The hold is placed by a second process (this test)
// on the same file, as a crashed worker or a script would leave it.

let server: RunningServer;
let db: AppDb;
beforeAll(async () => {
  server = await startServer({ HOLD_SWEEP_INTERVAL_SECONDS: "1" });
  db = openDatabase(path.join(server.dataDir, "app.sqlite"));
});
afterAll(async () => {
  if (db) closeDatabase(db);
  await server?.stop();
});

describe("hold sweeper in the running app", () => {
  it("voids an expired hold and gives the credits back", async () => {
    const client = new HttpClient(server.url);
    await client.signup("sweep@example.com");
    const userId = (db.sqlite.prepare("select id from users where email = ?").get("sweep@example.com") as { id: number }).id;

    const placed = await hold(db, { userId, cost: 7, key: "orphan-hold-1", description: "A job that crashed", ttlSeconds: 1 });
    expect(placed.ok).toBe(true);
    // The hold drew from the sign-up bonus, which expires: 3 of it is left to expire.
    expect(getBalance(db, userId)).toMatchObject({ balance: 3, onHold: 7, nextExpiry: { amount: 3 } });

    const deadline = Date.now() + 10_000;
    let status = "pending";
    while (status === "pending" && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      status = (db.sqlite.prepare("select status from transactions where idempotency_key = 'orphan-hold-1'").get() as { status: string }).status;
    }
    expect(status).toBe("voided");
    expect(getBalance(db, userId)).toMatchObject({ balance: 10, onHold: 0, nextExpiry: { amount: 10 } });
    const res = await client.get("/api/credits");
    expect(await res.json()).toMatchObject({ balance: 10, onHold: 0 });
  });
});
