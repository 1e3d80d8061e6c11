import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

// scripts/test-summary.mjs prints the last line of `npm test` and CI ("N passed, N failed"), from
// vitest's JSON reports. A file whose beforeAll threw is reported as failed with its tests skipped:
// it must count as a failure, not vanish into "skipped" (the full suite once ended "0 failed" so).

const dir = mkdtempSync(join(tmpdir(), 'otac-summary-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Assertion = { status: 'passed' | 'failed' | 'skipped' };
function report(name: string, suites: { status: 'passed' | 'failed'; assertionResults: Assertion[] }[]): string {
  const all = suites.flatMap((s) => s.assertionResults);
  const count = (status: Assertion['status']) => all.filter((a) => a.status === status).length;
  const file = join(dir, `${name}.json`);
  writeFileSync(
    file,
    JSON.stringify({
      numTotalTests: all.length,
      numPassedTests: count('passed'),
      numFailedTests: count('failed'),
      numPendingTests: count('skipped'),
      numTodoTests: 0,
      testResults: suites,
    }),
  );
  return file;
}
const summary = (...args: string[]) =>
  execFileSync(process.execPath, [join(__dirname, '../../../scripts/test-summary.mjs'), ...args], {
    encoding: 'utf8',
  }).trim();
const passed: Assertion = { status: 'passed' };

describe('the test summary line', () => {
  it('counts a file whose beforeAll threw (its tests skipped) as one failure', () => {
    const file = report('before-all', [
      { status: 'passed', assertionResults: [passed, passed] },
      { status: 'failed', assertionResults: [{ status: 'skipped' }, { status: 'skipped' }] },
    ]);
    expect(summary('4', '0', file)).toBe('6 passed, 1 failed, 2 skipped');
  });

  it('counts failed tests once each, a file that did not load as one, and a missing report as one', () => {
    const failing = report('failing', [
      { status: 'failed', assertionResults: [passed, { status: 'failed' }, { status: 'failed' }] },
      { status: 'failed', assertionResults: [] },
    ]);
    expect(summary('1', '1', failing, join(dir, 'missing.json'))).toBe('2 passed, 5 failed');
  });

  it('all green is "0 failed"', () => {
    expect(summary('4', '0', report('green', [{ status: 'passed', assertionResults: [passed] }]))).toBe(
      '5 passed, 0 failed',
    );
  });
});
