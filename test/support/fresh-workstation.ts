import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createWorkstation, type Workstation, type WorkstationOptions } from '../../src/core/workstation';

/** A workstation on a fresh data directory, removed when the test is done. */
export function freshWorkstation(options: Partial<Pick<WorkstationOptions, 'now'>> = {}): {
  ws: Workstation;
  dataDir: string;
  dispose: () => Promise<void>;
} {
  const dataDir = mkdtempSync(join(tmpdir(), 'otac-test-'));
  const ws = createWorkstation({ dataDir, shell: 'browser', version: 'test', ...options });
  return {
    ws,
    dataDir,
    dispose: async () => {
      await ws.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export const OFFICER = { username: 'sofia', displayName: 'Sofia Officer', password: 'correct horse battery' };
