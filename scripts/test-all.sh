#!/usr/bin/env bash
# Every test the project has: types, lint, a production build, the unit and integration tests
# (vitest, some against the built server), then the end-to-end tests (Playwright in Chromium).
# Ends with one line "N passed, N failed" summing both runners.
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p test-results
rm -f test-results/unit.json test-results/e2e.json

step() { printf '\n== %s\n' "$*"; }

step "typecheck" && npm run -s typecheck || { echo "typecheck failed"; echo "0 passed, 1 failed"; exit 1; }
step "lint" && npm run -s lint || { echo "lint failed"; echo "0 passed, 1 failed"; exit 1; }
step "build" && npm run -s build >test-results/build.log 2>&1 || { cat test-results/build.log; echo "0 passed, 1 failed"; exit 1; }

step "unit and integration tests (vitest)"
npx vitest run --reporter=default --reporter=json --outputFile.json=test-results/unit.json
unit_status=$?

step "end-to-end tests (Playwright)"
CI=${CI:-} npx playwright test --reporter=list,json 2>&1 | tee test-results/e2e.log
e2e_status=${PIPESTATUS[0]}

node scripts/summarize-tests.mjs test-results/unit.json test-results/e2e.json
summary_status=$?
if [ $unit_status -ne 0 ] || [ $e2e_status -ne 0 ] || [ $summary_status -ne 0 ]; then exit 1; fi
