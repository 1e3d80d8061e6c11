import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createWorkstation } from '../../../src/core/workstation';
import { thrown } from '../../support/thrown';

describe('one workstation per data directory', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'otac-lock-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses a second instance with a clear message and leaves the first working', async () => {
    const first = createWorkstation({ dataDir: dir, shell: 'browser', version: 't' });
    const second = thrown(() => createWorkstation({ dataDir: dir, shell: 'browser', version: 't' }));
    expect(second).toMatchObject({ code: 'ALREADY_RUNNING' });
    expect(second.message).toContain('already running');
    expect(await first.router.dispatch('c', 'auth:status', {})).toMatchObject({ ok: true });
    await first.close();
    const again = createWorkstation({ dataDir: dir, shell: 'browser', version: 't' });
    await again.close();
  });

  it('takes over a lock left by a process that is gone', async () => {
    writeFileSync(join(dir, 'workstation.lock'), '999999999');
    const ws = createWorkstation({ dataDir: dir, shell: 'browser', version: 't' });
    await ws.close();
  });
});
