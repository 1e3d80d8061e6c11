import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

// Electronegativity exits 0 whatever it finds, so the test reads its CSV report.
const root = resolve(__dirname, '../../..');
const cli = join(root, 'node_modules/@doyensec/electronegativity/dist/index.js');
const electronVersion = (JSON.parse(readFileSync(join(root, 'node_modules/electron/package.json'), 'utf8')) as { version: string }).version;
const work = mkdtempSync(join(tmpdir(), 'otac-eneg-'));

interface Finding {
  issue: string;
  severity: string;
  file: string;
}

function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  const endCell = () => {
    row.push(cell.trim());
    cell = '';
  };
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cell += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') endCell();
    else if (ch === '\n') {
      endCell();
      rows.push(row);
      row = [];
    } else cell += ch;
  }
  if (cell || row.length) {
    endCell();
    rows.push(row);
  }
  return rows;
}

async function scan(dir: string): Promise<Finding[]> {
  const out = join(work, `report-${Math.random().toString(36).slice(2)}.csv`);
  await promisify(execFile)(process.execPath, [cli, '-i', dir, '-e', electronVersion, '-o', out, '-r', '-v', 'false'], {
    timeout: 120_000,
  });
  const [header, ...rows] = parseCsv(readFileSync(out, 'utf8'));
  expect(header?.[0]).toBe('issue');
  return rows.filter((r) => r.length > 3).map((r) => ({ issue: r[0]!, severity: r[1]!, file: r[3]! }));
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
  });
});
