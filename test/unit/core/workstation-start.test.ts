import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AuditCheckpointService } from '../../../src/core/audit/audit-checkpoint.service';
import { TrainingReaderService } from '../../../src/core/card/training-reader';
import { Closers } from '../../../src/core/feature-module';
import { acquireInstanceLock } from '../../../src/core/instance-lock';
import { createWorkstation } from '../../../src/core/workstation';

// A module that fails while the workstation is being built: nothing may stay taken.
const failing = vi.hoisted(() => ({ system: false }));
vi.mock('../../../src/core/system/system.module', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../../src/core/system/system.module')>();
  return {
    systemModule: (...args: Parameters<typeof real.systemModule>) => {
      if (failing.system) throw new Error('the system module could not be built');
      return real.systemModule(...args);
    },
  };
});

describe('a workstation start that fails part-way', () => {
  let dataDir: string;
  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'otac-start-'));
  });
  afterEach(() => {
    failing.system = false;
    vi.restoreAllMocks();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('releases the instance lock and the database, and never started readers or timers', async () => {
    const readersStarted = vi.spyOn(TrainingReaderService.prototype, 'start');
    const checkpointsStarted = vi.spyOn(AuditCheckpointService.prototype, 'start');
    failing.system = true;
    expect(() => createWorkstation({ dataDir, shell: 'browser', version: 'test', readers: 'training' })).toThrow(
      'the system module could not be built',
    );
    expect(readersStarted).not.toHaveBeenCalled();
    expect(checkpointsStarted).not.toHaveBeenCalled();
    // The data directory is free again at once: the next start takes it and works.
    failing.system = false;
    const ws = createWorkstation({ dataDir, shell: 'browser', version: 'test', readers: 'training' });
    expect(readersStarted).toHaveBeenCalledTimes(1);
    expect(checkpointsStarted).toHaveBeenCalledTimes(1);
    expect(await ws.router.dispatch('desk', 'auth:status', {})).toMatchObject({ ok: true });
    await ws.close();
    acquireInstanceLock(dataDir)(); // and close gave it back
  });

  it('while a workstation runs, a second one on the same data directory is refused', async () => {
    const ws = createWorkstation({ dataDir, shell: 'browser', version: 'test' });
    expect(() => createWorkstation({ dataDir, shell: 'browser', version: 'test' })).toThrow();
    await ws.close();
  });
});

describe('Closers', () => {
  it('runs newest first, awaits each step, and runs the rest when one fails', async () => {
    const order: string[] = [];
    const errors: string[] = [];
    const closers = new Closers((name) => errors.push(name));
    closers.add('lock', () => order.push('lock'));
    closers.add('db', () => order.push('db'));
    closers.add('broken', () => {
      throw new Error('x');
    });
    closers.add('timers', async () => {
      await new Promise((r) => setTimeout(r, 5));
      order.push('timers');
    });
    await closers.closeAll();
    expect(order).toEqual(['timers', 'db', 'lock']);
    expect(errors).toEqual(['broken']);
    await closers.closeAll(); // a second close has nothing left to do
    expect(order).toHaveLength(3);
  });

  it('runs synchronous steps within the call', () => {
    const order: string[] = [];
    const closers = new Closers(() => undefined);
    closers.add('lock', () => order.push('lock'));
    closers.add('db', () => order.push('db'));
    void closers.closeAll();
    expect(order).toEqual(['db', 'lock']);
  });
});
