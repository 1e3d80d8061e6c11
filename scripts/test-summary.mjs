// Reads vitest's JSON reports (one per engine pass) and prints "N passed, N failed[, N skipped]",
// counting as one failure each: a test file that failed with no failed test of its own (it failed
// to load, reported with no test results, or its beforeAll threw, reported with its tests skipped),
// and a missing or empty report.
import { existsSync, readFileSync } from 'node:fs';

const [checksPassed = '0', checksFailed = '0', ...files] = process.argv.slice(2);
let passed = Number(checksPassed);
let failed = Number(checksFailed);
let skipped = 0;
if (files.length === 0) failed += 1;
for (const file of files) {
  if (!existsSync(file)) {
    failed += 1;
    continue;
  }
  const report = JSON.parse(readFileSync(file, 'utf8'));
  passed += report.numPassedTests ?? 0;
  failed += report.numFailedTests ?? 0;
  skipped += (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
  for (const suite of report.testResults ?? []) {
    const ownFailures = (suite.assertionResults ?? []).filter((a) => a.status === 'failed').length;
    if (suite.status === 'failed' && ownFailures === 0) failed += 1;
  }
  if ((report.numTotalTests ?? 0) === 0) failed += 1;
}
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
