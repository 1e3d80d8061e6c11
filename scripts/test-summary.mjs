// Reads vitest's JSON report and prints "N passed, N failed[, N skipped]", counting a test
// file that failed to load as a failure (vitest reports it with no test results).
import { existsSync, readFileSync } from 'node:fs';

const [file, checksPassed = '0', checksFailed = '0'] = process.argv.slice(2);
let passed = Number(checksPassed);
let failed = Number(checksFailed);
let skipped = 0;
if (!file || !existsSync(file)) {
  failed += 1;
} else {
  const report = JSON.parse(readFileSync(file, 'utf8'));
  passed += report.numPassedTests ?? 0;
  failed += report.numFailedTests ?? 0;
  skipped += (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
  for (const suite of report.testResults ?? []) {
    if (suite.status === 'failed' && (suite.assertionResults ?? []).length === 0) failed += 1;
  }
  if ((report.numTotalTests ?? 0) === 0) failed += 1;
}
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
