import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { POSTGRES_NOT_PORTED } from "../../app/services/runtime.server";
import { ROOT, startServer } from "../support/server";

// Until the money path runs on PostgreSQL (issue 18), the server given DATABASE_URL must stop at
// once, saying why, rather than run on SQLite while the operator believes it is on PostgreSQL.

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

describe("the server with DATABASE_URL", () => {
  it("refuses to start: one line, the configuration exit code, no SQLite file made, no password shown", async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "credits-pg-refusal-"));
    dirs.push(dataDir);
    const failure = await startServer({ DATABASE_URL: "postgres://app:hunter2@127.0.0.1:5432/credits" }, { dataDir }).then(
      async (running) => {
        await running.stop(); // it must not have started; stop it so the failure below is the only one
        return null;
      },
      (error: Error) => error.message,
    );
    expect(failure).not.toBeNull();
    const [first, ...output] = failure!.split("\n");
    expect(first).toBe("server exited with 78:");
    expect(output.join("\n").trim()).toBe(POSTGRES_NOT_PORTED);
    expect(failure).not.toContain("hunter2");
    expect(fs.readdirSync(dataDir)).toEqual([]);
  });
});

describe("the command that works on the SQLite file only, with DATABASE_URL", () => {
  const run = (script: string, args: string[], env: Record<string, string>) =>
    new Promise<{ code: number | null; err: string }>((resolve) => {
      execFile(`${ROOT}/node_modules/.bin/tsx`, [script, ...args], { cwd: ROOT, encoding: "utf8", env: { NODE_ENV: "production", PATH: process.env.PATH, ...env } }, (error, _out, err) =>
        resolve({ code: error ? (typeof error.code === "number" ? error.code : null) : 0, err }),
      );
    });

  // db:backup and db:restore work on PostgreSQL too (pg_dump / pg_restore: tests/integration/db-backup-postgres.test.ts).
  it("refuses, saying what to use instead, and touches no file", { timeout: 120_000 }, async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "credits-pg-sqlite-only-"));
    dirs.push(dataDir);
    const env = { DATA_DIR: dataDir, DATABASE_URL: "postgres://app:hunter2@127.0.0.1:5432/credits" };
    const verify = await run("scripts/ledger-verify.ts", [], env);
    expect(verify.code).toBe(2);
    expect(verify.err).toMatch(/^ledger:verify: DATABASE_URL is set, but ledger:verify works on the SQLite file only/);
    expect(fs.readdirSync(dataDir)).toEqual([]);
  });
});
