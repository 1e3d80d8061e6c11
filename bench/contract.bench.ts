import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createWorkstation } from '../src/core/workstation';
import { contract } from '../src/shared/contract';

// Cost of the contract layer: a call through the router (schema check, session and access
// check, output check) against the bare schema parse it performs, measured in the same run.

type Report = (name: string, value: number, unit: string) => void;

async function opsPerSecond(fn: () => unknown, ms = 600): Promise<number> {
  const end = performance.now() + ms;
  let n = 0;
  const start = performance.now();
  while (performance.now() < end) {
    await fn();
    n++;
  }
  return (n / (performance.now() - start)) * 1000;
}

export async function run(report: Report): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'otac-bench-'));
  const ws = createWorkstation({ dataDir: dir, shell: 'browser', version: 'bench' });
  try {
    const input = { username: 'someone', password: 'not-a-real-password' };
    const parse = await opsPerSecond(() => contract['auth:signIn'].input.safeParse(input));
    const dispatch = await opsPerSecond(() => ws.router.dispatch('bench', 'auth:status', {}));
    report('contract.schema_parse', parse, 'ops/s');
    report('contract.router_dispatch', dispatch, 'ops/s');
    report('contract.router_dispatch.ratio_vs_schema_parse', dispatch / parse, 'x');
  } finally {
    await ws.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
