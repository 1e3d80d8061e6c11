import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { trainingCardMaker } from '../../src/card-sim/training-cards';
import { createWorkstation, type Workstation, type WorkstationOptions } from '../../src/core/workstation';
import { testMailer } from './mailer';

/**
 * A workstation on a fresh data directory, removed when the test is done. `keystoreScryptCost`
 * puts the software keystore (and its backups) on a cheaper scrypt, for tests that derive many keys.
 */
export function freshWorkstation(
  options: Partial<Pick<WorkstationOptions, 'now' | 'readers' | 'mailer' | 'saveFile' | 'support' | 'reissueGate'>> & {
    keystoreScryptCost?: { N: number; r: number; p: number };
  } = {},
): {
  ws: Workstation;
  dataDir: string;
  dispose: () => Promise<void>;
} {
  const dataDir = mkdtempSync(join(tmpdir(), 'otac-test-'));
  const { keystoreScryptCost, ...rest } = options;
  const keystore = keystoreScryptCost
    ? ({
        backend: 'software',
        file: join(dataDir, 'keystore', 'keystore.otacks'),
        scryptCost: keystoreScryptCost,
      } as const)
    : undefined;
  const ws = createWorkstation({
    dataDir,
    shell: 'browser',
    version: 'test',
    mailer: testMailer(), // Chromium starts only when a test prints
    trainingCards: trainingCardMaker,
    ...rest,
    ...(keystore ? { keystore } : {}),
  });
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
