import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { POSTGRES_NOT_PORTED } from "../../app/services/runtime.server";
import { startServer } from "../support/server";

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
