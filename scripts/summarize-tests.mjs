// Sums the JSON reports of vitest and Playwright into the one closing line CI reads.
import fs from "node:fs";

// Usage: summarize-tests.mjs <vitest.json> <playwright.json> [more vitest.json …] (the second
// vitest pass: the HTTP suites again on PostgreSQL).
const [unitFile, e2eFile, ...moreUnitFiles] = process.argv.slice(2);
let passed = 0;
let failed = 0;
let skipped = 0;
const read = (f) => (fs.existsSync(f) ? JSON.parse(fs.readFileSync(f, "utf8")) : null);

for (const file of [unitFile, ...moreUnitFiles]) {
  const unit = read(file);
  if (unit) {
    passed += unit.numPassedTests;
    failed += unit.numFailedTests;
    skipped += unit.numPendingTests + unit.numTodoTests;
    if (unit.numFailedTestSuites > 0 && unit.numFailedTests === 0) failed += unit.numFailedTestSuites;
  } else {
    console.log(`no vitest report at ${file}`);
    failed += 1;
  }
}

const e2e = read(e2eFile);
if (e2e) {
  passed += e2e.stats.expected + e2e.stats.flaky;
  failed += e2e.stats.unexpected;
  skipped += e2e.stats.skipped;
  if (e2e.errors?.length) failed += e2e.errors.length;
} else {
  console.log(`no Playwright report at ${e2eFile}`);
  failed += 1;
}

console.log(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
process.exit(failed > 0 || passed === 0 ? 1 : 0);
