import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";

// Group commit must never answer a write before its commit: a process killed with SIGKILL in the
// middle of a stream of batched writes keeps every write it acknowledged (decision 036). A kill
// is not a power cut (the OS keeps what was written); synchronous=FULL covers that part, as for
// every commit the app makes.

const WORKER = path.join(import.meta.dirname, "sql-executor-worker.ts");
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "credits-sql-kill-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe("the SQLite executor under kill -9", () => {
  it("every acknowledged write survives, and nothing unacknowledged is half there", { timeout: 90_000 }, async () => {
    const file = path.join(dir, "kill.sqlite");
    const child = spawn(process.execPath, ["--import", "tsx", WORKER, file], { stdio: ["ignore", "pipe", "pipe"] });
    const acked: number[] = [];
    let err = "";
    let buffer = "";
    child.stderr.on("data", (d) => (err += d));
    const enough = new Promise<void>((resolve) => {
      child.stdout.on("data", (d: Buffer) => {
        buffer += d.toString();
        const lines = buffer.split("\n");
        buffer = lines.pop()!;
        for (const line of lines) if (/^\d+$/.test(line)) acked.push(Number(line));
        if (acked.length >= 1000) resolve();
      });
    });
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    // A busy CI machine fsyncs slowly: kill after 1,000 acknowledged writes, or after 45 s with
    // what there is (at least a few batches' worth, or the test proves nothing).
    await Promise.race([enough, exited, new Promise((r) => setTimeout(r, 45_000))]);
    expect(acked.length, err).toBeGreaterThanOrEqual(200);
    child.kill("SIGKILL");
    await exited;

    const db = new Database(file);
    try {
      const stored = new Set((db.prepare("SELECT id FROM acked").all() as Array<{ id: number }>).map((r) => Number(r.id)));
      const lost = acked.filter((id) => !stored.has(id));
      expect(lost).toEqual([]);
      expect(db.prepare("SELECT count(*) AS n FROM acked WHERE payload != 'payload ' || id").get()).toEqual({ n: 0 });
      expect(db.pragma("integrity_check", { simple: true })).toBe("ok");
    } finally {
      db.close();
    }
  });
});
