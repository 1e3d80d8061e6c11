import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { trainingCardMaker } from '../../src/card-sim/training-cards';
import { openWorkstation, type DeskWorkstation } from '../../src/core/workstation';
import { testMailer } from './mailer';

/**
 * Whole desks of a branch network in this process (openWorkstation on a PostgreSQL URL), each on a
 * fresh data directory; `closeAll` closes them and removes the directories (and any in `dirs`).
 */
export function branchDesks(prefix = 'otac-branch-'): {
  readonly desks: DeskWorkstation[];
  readonly dirs: string[];
  open(databaseUrl: string): Promise<DeskWorkstation>;
  closeAll(): Promise<void>;
} {
  const desks: DeskWorkstation[] = [];
  const dirs: string[] = [];
  return {
    desks,
    dirs,
    async open(databaseUrl) {
      const dataDir = mkdtempSync(join(tmpdir(), prefix));
      dirs.push(dataDir);
      const ws = await openWorkstation({
        dataDir,
        shell: 'browser',
        version: 'test',
        mailer: testMailer(),
        trainingCards: trainingCardMaker,
        database: { url: databaseUrl },
      });
      desks.push(ws);
      return ws;
    },
    async closeAll() {
      for (const ws of desks) await ws.close();
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    },
  };
}
