import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { HttpClient, startServer } from "../support/server";

// SIGTERM in the middle of a burst of writes: the server stops accepting, finishes what it had,
// stops background work, checkpoints the WAL, closes the database and exits 0, and every write
// that was answered with success is in the database file.

type Outcome = { email: string; status: number | "error" };

/** A sign-up whose body is sent in two halves, `pause` apart: in flight while we send SIGTERM. */
function slowSignup(port: number, email: string): { finish: () => void; response: Promise<number> } {
  const body = new URLSearchParams({ email, password: "password123" }).toString();
  const half = Math.floor(body.length / 2);
  let finish = () => {};
  const response = new Promise<number>((resolve, reject) => {
    const req = http.request(
      {
        host: "127.0.0.1",
        port,
        method: "POST",
        path: "/signup",
        headers: {
          "Content-Type": "application/x-www-form-urlencoded",
          "Content-Length": Buffer.byteLength(body),
          Origin: `http://127.0.0.1:${port}`,
        },
      },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      },
    );
    req.on("error", reject);
    req.write(body.slice(0, half));
    req.flushHeaders();
    finish = () => req.end(body.slice(half));
  });
  return { finish, response };
}

describe("graceful shutdown", () => {
  it("loses no answered write when SIGTERM arrives mid-burst, and leaves a checkpointed database", async () => {
    const server = await startServer({ LOG_LEVEL: "info", BACKUP_SCHEDULE: "daily" });
    const dbFile = path.join(server.dataDir, "app.sqlite");
    const slow = slowSignup(server.port, "in-flight@example.com");
    await new Promise((r) => setTimeout(r, 100)); // the request is accepted and waiting for its body

    const outcomes: Outcome[] = [];
    const emails = Array.from({ length: 80 }, (_, i) => `burst-${i}@example.com`);
    let next = 0;
    let signalled = false;
    const exited = new Promise<number | null>((resolve) => server.process.once("exit", (code) => resolve(code)));
    const worker = async () => {
      while (next < emails.length) {
        const email = emails[next++]!;
        try {
          const res = await new HttpClient(server.url).post("/signup", { email, password: "password123" });
          outcomes.push({ email, status: res.status });
        } catch {
          outcomes.push({ email, status: "error" }); // refused or cut: not answered, so not promised
        }
        if (!signalled && outcomes.filter((o) => o.status === 303).length >= 12) {
          signalled = true;
          server.process.kill("SIGTERM");
          setTimeout(() => slow.finish(), 300); // the in-flight request completes after the signal
        }
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    expect(signalled).toBe(true);

    // Soon after the signal (the process handles it asynchronously, later on a loaded machine) new
    // connections are refused.
    const refusedBy = Date.now() + 3_000;
    let refused = false;
    while (!refused && Date.now() < refusedBy) {
      refused = await fetch(`${server.url}/healthz`).then(
        () => false,
        () => true,
      );
      if (!refused) await new Promise((r) => setTimeout(r, 25));
    }
    expect(refused, "a new connection is still accepted 3 s after SIGTERM").toBe(true);
    expect(await slow.response, server.output()).toBe(303);
    expect(await exited, server.output()).toBe(0);

    const answered = outcomes.filter((o) => o.status === 303).map((o) => o.email);
    expect(answered.length).toBeGreaterThanOrEqual(12);
    // Everything else was either refused (no answer) or never sent: no 5xx, no half-done request.
    expect(outcomes.filter((o) => o.status !== 303 && o.status !== "error"), server.output()).toEqual([]);
    answered.push("in-flight@example.com");

    // The WAL was checkpointed into the main file and removed; the main file alone has everything.
    expect(!fs.existsSync(`${dbFile}-wal`) || fs.statSync(`${dbFile}-wal`).size === 0).toBe(true);
    const copyDir = fs.mkdtempSync(path.join(os.tmpdir(), "credits-shutdown-"));
    fs.copyFileSync(dbFile, path.join(copyDir, "app.sqlite"));
    const db = new Database(path.join(copyDir, "app.sqlite"), { readonly: true });
    try {
      const users = new Set((db.prepare("SELECT email FROM users").all() as Array<{ email: string }>).map((u) => u.email));
      for (const email of answered) expect(users.has(email), email).toBe(true);
      const unbalanced = db
        .prepare(
          `SELECT u.email FROM users u LEFT JOIN transactions t ON t.user_id = u.id AND t.status IN ('pending','posted')
           GROUP BY u.id HAVING u.credits IS NOT coalesce(sum(t.amount), 0)`,
        )
        .all();
      expect(unbalanced).toEqual([]);
      // A sign-up queues its verification mail in the same transaction: every account has one.
      const mails = db.prepare("SELECT count(DISTINCT to_address) AS n FROM mail_queue WHERE kind = 'verify_email'").get() as { n: number };
      expect(mails.n).toBe(users.size);
      expect((db.pragma("integrity_check") as Array<{ integrity_check: string }>)[0]!.integrity_check).toBe("ok");
    } finally {
      db.close();
      fs.rmSync(copyDir, { recursive: true, force: true });
    }

    const log = server.output();
    expect(log).toContain("shutting down: finishing in-flight requests");
    expect(log).toContain("stopped cleanly");
    // Requests first, then the background work (video worker, hold sweeper, backups), then the database.
    const closed = log.split("\n").find((l) => l.includes("HTTP server closed"))!;
    expect(JSON.parse(closed).tasks).toEqual(expect.arrayContaining(["generation", "hold-sweeper", "backup-schedule", "stripe"]));
    expect(log.indexOf("HTTP server closed")).toBeLessThan(log.indexOf("stopped cleanly"));
  });
});
