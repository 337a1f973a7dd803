import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { startFlags } from "../../scripts/bench/support";
import { ROOT } from "../support/server";

// The server's Node flags (decision 039: a smaller young generation and a cap on the old one keep
// peak RSS under issue 19's 200 MB) are written in two places, `npm start` and the container's start script; the bench
// reads them from `npm start`. They must not drift apart, and Node must accept them.

function containerFlags(): string[] {
  const script = fs.readFileSync(path.join(ROOT, "scripts/container-start.sh"), "utf8");
  const exec = script.split("\n").find((line) => /^exec node\b/.test(line));
  if (!exec) throw new Error("scripts/container-start.sh has no `exec node ...` line");
  const argv = exec.trim().split(/\s+/).slice(2);
  expect(argv.at(-1)).toBe("server.js");
  return argv.slice(0, -1);
}

describe("the server's Node flags", () => {
  it("are the same for npm start (and so the bench) and the container", () => {
    expect(startFlags()).toContain("--max-semi-space-size=8");
    expect(startFlags()).toContain("--max-old-space-size=160");
    expect(containerFlags()).toEqual(startFlags());
  });

  it("are accepted by this Node, and cap the young generation at 2 × 8 MB under churn", () => {
    // Objects that live a little while (a window of 200,000), as requests in flight do: without
    // the flag V8 grows the young generation to its default 2 × 16 MB on this.
    const churn =
      "const w = new Array(200000); for (let i = 0; i < 3000000; i++) w[i % 200000] = { i, s: 'x' + i };" +
      "const s = require('node:v8').getHeapSpaceStatistics().find((x) => x.space_name === 'new_space');" +
      "process.stdout.write(String(s.space_size));";
    const newSpaceBytes = Number(execFileSync(process.execPath, [...startFlags(), "-e", churn], { encoding: "utf8" }));
    expect(newSpaceBytes).toBeGreaterThan(0);
    expect(newSpaceBytes).toBeLessThanOrEqual(16 * 1024 * 1024);
  });

  it("cap the whole heap near 160 MB of old space (a live set of ~30-40 MB leaves room; garbage is collected before RSS climbs)", () => {
    const limit = Number(execFileSync(process.execPath, [...startFlags(), "-e", "process.stdout.write(String(require('node:v8').getHeapStatistics().heap_size_limit))"], { encoding: "utf8" }));
    expect(limit).toBeGreaterThanOrEqual(160 * 1024 * 1024);
    expect(limit).toBeLessThanOrEqual(200 * 1024 * 1024);
  });
});
