import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ledgerKeys, stripeRequestKeys } from "../../app/services/money/ledger-keys.server";

const ROOT = path.resolve(import.meta.dirname, "../..");
const HOME = "app/services/money/ledger-keys.server.ts";

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const rel = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(rel);
    return /\.(ts|tsx|js|mjs)$/.test(entry.name) && !/\.test\.tsx?$/.test(entry.name) ? [rel] : [];
  });
}

// Every prefix ledgerKeys and stripeRequestKeys produce, read from the module itself, so a new
// key format is covered the moment it is added there.
const prefixes = [
  ...Object.values(ledgerKeys).map((build) => (build as (...a: unknown[]) => string)("X", 1).split(/[:X]/)[0]),
  ...Object.values(stripeRequestKeys).map((build) => (build as (...a: unknown[]) => string)(1, "X", "X").split(/-1|-X/)[0]),
];

describe("ledger and Stripe request keys have one home", () => {
  it("knows the formats", () => {
    expect(prefixes).toEqual(
      expect.arrayContaining(["checkout", "refund", "dispute", "generation", "signup-bonus", "admin-adjust", "customer-for-user", "admin-refund"]),
    );
  });

  it("no other file under app/ or scripts/ builds one", () => {
    const offenders: string[] = [];
    for (const file of [...sourceFiles("app"), ...sourceFiles("scripts")]) {
      if (file === HOME) continue;
      const text = fs.readFileSync(path.join(ROOT, file), "utf8");
      for (const prefix of prefixes) {
        // A template or string literal that starts with the prefix and a separator: `checkout:${…}`,
        // "refund:" + id, `customer-for-user-${…}`.
        const pattern = new RegExp(`[\`"']${prefix}[:-](\\$\\{|[\`"']\\s*\\+)`);
        if (pattern.test(text)) offenders.push(`${file} builds a "${prefix}" key`);
      }
    }
    expect(offenders).toEqual([]);
  });

  it("the pattern catches a key built elsewhere (the check can fail)", () => {
    const pattern = new RegExp("[`\"']checkout[:-](\\$\\{|[`\"']\\s*\\+)");
    expect(pattern.test("const key = `checkout:${session.id}`;")).toBe(true);
    expect(pattern.test('const key = "checkout:" + session.id;')).toBe(true);
    expect(pattern.test('redirect("/settings/billing")')).toBe(false);
  });
});
