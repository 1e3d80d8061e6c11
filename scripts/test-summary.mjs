// Reads vitest's JSON reports (one per engine pass) and prints "N passed, N failed[, N skipped]",
// counting as one failure each: a test file that failed with no failed test of its own (it failed
// to load, reported with no test results, or its beforeAll threw, reported with its tests skipped),
// and a missing or empty report. Before that line it names what failed (a check, a test file, a
// test, with the first line of its message), so that the tail of a CI log says which one it was.
import { existsSync, readFileSync } from 'node:fs';
import { basename, relative } from 'node:path';

const [checksPassed = '0', checksFailed = '0', ...files] = process.argv.slice(2);
let passed = Number(checksPassed);
let failed = Number(checksFailed);
let skipped = 0;
const named = (process.env.OTAC_FAILED_CHECKS ?? '')
  .split('\n')
  .filter(Boolean)
  .map((c) => `check: ${c}`);
/** Terminal colour codes, which vitest leaves in its messages. */
const COLOUR = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g');
/** The first line of a failure message, without colours, at most 240 characters. */
const firstLine = (message) =>
  String(message ?? '')
    .replace(COLOUR, '')
    .split('\n')
    .find((l) => l.trim())
    ?.trim()
    .slice(0, 240) ?? '';
if (files.length === 0) {
  failed += 1;
  named.push('no test report was given');
}
for (const file of files) {
  if (!existsSync(file)) {
    failed += 1;
    named.push(`${basename(file)}: missing (the runner wrote no report)`);
    continue;
  }
  const report = JSON.parse(readFileSync(file, 'utf8'));
  passed += report.numPassedTests ?? 0;
  failed += report.numFailedTests ?? 0;
  skipped += (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
  const pass = basename(file, '.json');
  for (const suite of report.testResults ?? []) {
    const where = `${pass}: ${relative(process.cwd(), suite.name ?? '?')}`;
    const ownFailures = (suite.assertionResults ?? []).filter((a) => a.status === 'failed');
    for (const a of ownFailures)
      named.push(`${where} › ${a.fullName ?? a.title ?? '?'} — ${firstLine(a.failureMessages?.[0])}`);
    if (suite.status === 'failed' && ownFailures.length === 0) {
      failed += 1;
      named.push(`${where} — ${firstLine(suite.message) || 'the file failed with no test of its own failing'}`);
    }
  }
  if ((report.numTotalTests ?? 0) === 0) {
    failed += 1;
    named.push(`${pass}: no tests ran`);
  }
}
for (const line of named) console.log(`FAILED ${line}`);
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
