import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

// The scan runs through test/support/electronegativity-offline.mjs: offline, and without the
// CLI's CSV writer, whose two unordered async writes could leave an empty report (see there).
const root = resolve(__dirname, '../../..');
const runner = join(root, 'test/support/electronegativity-offline.mjs');
const electronVersion = (
  JSON.parse(readFileSync(join(root, 'node_modules/electron/package.json'), 'utf8')) as { version: string }
).version;
const work = mkdtempSync(join(tmpdir(), 'otac-eneg-'));

interface Finding {
  issue: string;
  severity: string;
  file: string;
}

async function scan(dir: string): Promise<Finding[]> {
  const { stdout } = await promisify(execFile)(process.execPath, [runner, dir, electronVersion], { timeout: 60_000 });
  const findings = JSON.parse(stdout) as Finding[];
  expect(Array.isArray(findings)).toBe(true);
  return findings;
}

describe('electronegativity on src/main and src/preload', () => {
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('reports no HIGH or MEDIUM finding', async () => {
    const target = join(work, 'app');
    cpSync(join(root, 'src/main'), join(target, 'main'), { recursive: true });
    cpSync(join(root, 'src/preload'), join(target, 'preload'), { recursive: true });
    const findings = await scan(target);
    expect(findings.filter((f) => f.severity === 'HIGH' || f.severity === 'MEDIUM')).toEqual([]);
  });

  it('does find HIGH issues in an insecure window, so the check above can fail', async () => {
    const bad = join(work, 'bad');
    mkdirSync(bad);
    writeFileSync(
      join(bad, 'index.js'),
      `const { BrowserWindow } = require('electron');
       const w = new BrowserWindow({ webPreferences: { nodeIntegration: true, contextIsolation: false, sandbox: false } });
       w.loadURL('http://example.com');`,
    );
    const findings = await scan(bad);
    expect(findings.some((f) => f.severity === 'HIGH')).toBe(true);
    // Found in the file itself, so the scanner read and parsed it (not only a global guess).
    expect(findings).toContainEqual({ issue: 'CONTEXT_ISOLATION_JS_CHECK', severity: 'HIGH', file: 'index.js' });
  });
});
