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

type Assertion = { status: 'passed' | 'failed' | 'skipped'; fullName?: string; failureMessages?: string[] };
type Suite = { name?: string; status: 'passed' | 'failed'; message?: string; assertionResults: Assertion[] };
function report(name: string, suites: Suite[]): string {
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
const output = (args: string[], failedChecks = '') =>
  execFileSync(process.execPath, [join(__dirname, '../../../scripts/test-summary.mjs'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, OTAC_FAILED_CHECKS: failedChecks },
  })
    .trim()
    .split('\n');
/** The count line: the last line, which CI reads. */
const summary = (...args: string[]) => output(args).at(-1);
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

  it('names what failed above the count line: checks, failed tests with their message, files that failed alone', () => {
    const file = report('vitest-postgres', [
      {
        name: join(process.cwd(), 'test/integration/a.test.ts'),
        status: 'failed',
        assertionResults: [
          passed,
          {
            status: 'failed',
            fullName: 'desk A refuses B',
            failureMessages: ['\u001b[31mAssertionError: expected 1 to be 2\u001b[39m\n    at a.test.ts:3'],
          },
        ],
      },
      {
        name: join(process.cwd(), 'test/integration/b.test.ts'),
        status: 'failed',
        message: 'Error: Hook timed out in 10000ms\nmore',
        assertionResults: [{ status: 'skipped' }],
      },
      { name: join(process.cwd(), 'test/integration/c.test.ts'), status: 'passed', assertionResults: [passed] },
    ]);
    const lines = output(['2', '1', file, join(dir, 'gone.json')], 'eslint\n');
    expect(lines).toEqual([
      'FAILED check: eslint',
      'FAILED vitest-postgres: test/integration/a.test.ts › desk A refuses B — AssertionError: expected 1 to be 2',
      'FAILED vitest-postgres: test/integration/b.test.ts — Error: Hook timed out in 10000ms',
      'FAILED gone.json: missing (the runner wrote no report)',
      '4 passed, 4 failed, 1 skipped',
    ]);
  });
});
