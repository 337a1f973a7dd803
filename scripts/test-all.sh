#!/usr/bin/env bash
# Every test the project has: types, lint, a production build, the unit and integration tests
# (vitest, some against the built server), then the end-to-end tests (Playwright in Chromium).
# Ends with one line "N passed, N failed" summing both runners.
set -uo pipefail
cd "$(dirname "$0")/.."
# Reports live outside test-results/: Playwright empties that folder (its outputDir) at start.
REPORTS=reports
mkdir -p "$REPORTS"
rm -f "$REPORTS/unit.json" "$REPORTS/e2e.json" "$REPORTS/unit-postgres.json"

step() { printf '\n== %s\n' "$*"; }

step "typecheck" && npm run -s typecheck || { echo "typecheck failed"; echo "0 passed, 1 failed"; exit 1; }
step "lint" && npm run -s lint || { echo "lint failed"; echo "0 passed, 1 failed"; exit 1; }
step "build" && npm run -s build >"$REPORTS/build.log" 2>&1 || { cat "$REPORTS/build.log"; echo "0 passed, 1 failed"; exit 1; }

step "unit and integration tests (vitest)"
npx vitest run --reporter=default --reporter=json --outputFile.json="$REPORTS/unit.json"
unit_status=$?

# The HTTP suites of the money path again, each server on PostgreSQL (decision 036): the same
# tests, the same assertions, DATABASE_URL instead of the SQLite file. Needs a PostgreSQL server
# (.ci/run starts one: TEST_POSTGRES_URL) or its binaries (tests/support/postgres.ts).
step "the money path's HTTP suites on PostgreSQL (vitest, TEST_DATABASE=postgres)"
pg_suites=$(grep -v '^#' tests/on-postgres.txt | grep -v '^[[:space:]]*$' || true)
pg_status=0
if [ -n "$pg_suites" ]; then
  # shellcheck disable=SC2086 # one path per line, no spaces
  TEST_DATABASE=postgres npx vitest run --reporter=default --reporter=json --outputFile.json="$REPORTS/unit-postgres.json" $pg_suites
  pg_status=$?
else
  # An empty list must not become "every suite": vitest with no file runs them all.
  echo "tests/on-postgres.txt lists no suite: nothing is proven on PostgreSQL"; pg_status=1
fi

step "end-to-end tests (Playwright)"
PLAYWRIGHT_JSON_OUTPUT_FILE="$REPORTS/e2e.json" PLAYWRIGHT_JSON_OUTPUT_NAME="$REPORTS/e2e.json" \
  npx playwright test --reporter=list,json
e2e_status=$?

node scripts/summarize-tests.mjs "$REPORTS/unit.json" "$REPORTS/e2e.json" ${pg_suites:+"$REPORTS/unit-postgres.json"}
summary_status=$?
if [ $unit_status -ne 0 ] || [ $pg_status -ne 0 ] || [ $e2e_status -ne 0 ] || [ $summary_status -ne 0 ]; then exit 1; fi
