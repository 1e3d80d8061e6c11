#!/usr/bin/env bash
# The one test command: set-up, the PC/SC test bed, type check, lint, format, then every test tier
# (unit, integration, browser). Ends with "N passed, N failed" computed from the runners' reports.
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p test-results
rm -f test-results/*.json test-results/summary.txt

bash scripts/setup.sh || { echo "0 passed, 1 failed"; exit 1; }

checks_passed=0
checks_failed=0
failed_checks=''
check() {
  local name=$1
  shift
  echo "== $name"
  if "$@"; then
    checks_passed=$((checks_passed + 1))
  else
    checks_failed=$((checks_failed + 1))
    failed_checks+="$name"$'\n'
    echo "FAILED: $name"
  fi
}

check "test bed (pcscd + vpcd)" npx tsx scripts/testbed.ts up
check "typecheck (node side against electron.d.ts, web side)" npm run --silent typecheck
check "lint (strict rules and process boundaries)" npx eslint .
check "format (prettier --check; npm run format fixes it)" npx prettier --check --log-level warn .

echo "== tests"
npx vitest run --reporter=default --reporter=json --outputFile.json=test-results/vitest.json "$@"
vitest_status=$?
reports=(test-results/vitest.json)

# Issue 12: the integration and browser tiers again on PostgreSQL (one throwaway cluster, started by
# test/support/pg-global-setup.ts), for every file that opens a desk through the engine-neutral
# helpers. Files on freshSqliteWorkstation are about the SQLite file itself; db-postgres runs both
# engines side by side already. Skipped when arguments narrow the run.
if [ "$#" -eq 0 ] && [ "${OTAC_TEST_PG_PASS:-1}" != 0 ]; then
  mapfile -t pg_files < <(grep -rlE 'freshWorkstation\(|restartableWorkstation\(|engineDeskWithKeystore\(|openDesk\(|cardDesk\(' test/integration test/browser \
    --include='*.test.ts' | grep -v '^test/integration/db-postgres/' | sort)
  echo "== tests on PostgreSQL (${#pg_files[@]} files)"
  OTAC_TEST_ENGINE=postgres npx vitest run --project integration --project browser --reporter=default \
    --reporter=json --outputFile.json=test-results/vitest-postgres.json "${pg_files[@]}"
  pg_status=$?
  [ "$pg_status" = 0 ] || vitest_status=$pg_status
  reports+=(test-results/vitest-postgres.json)
fi

# What failed, a line each, then the count line: CI's log shows its tail, so both end up in it.
summary=$(OTAC_FAILED_CHECKS="$failed_checks" node scripts/test-summary.mjs "$checks_passed" "$checks_failed" "${reports[@]}")
echo "$summary" | tee test-results/summary.txt
case "$(echo "$summary" | tail -n 1)" in
  *" 0 failed"*) [ "$vitest_status" = 0 ] && exit 0 ;;
esac
exit 1
