import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { insertCard, removeAllCards, removeCard, type InsertedCard, type InsertOptions } from '../../src/card-sim/slots';
import { vpcdReaderName } from '../../src/card-sim/testbed-paths';
import { findPcscd, stopProcess, testbedUp } from '../../scripts/testbed/testbed-control';

/**
 * Integration tests' door to the PC/SC test bed: makes sure pcscd + vpcd run (the same `up`
 * as `npm run testbed -- up`), gives each test file a fresh card directory, and puts cards in
 * slots as separate processes. pcscd is shared with other test files: whoever stops it
 * brings it back with restartPcscd()/ensureUp() before finishing.
 */
export interface Testbed {
  cardDir: string;
  readerName(slot: number): string;
  insert(cardFile: string, slot: number, options?: InsertOptions): Promise<InsertedCard>;
  remove(slot: number): Promise<void>;
  /** Kill pcscd (SIGKILL, like a crash); returns when it is gone. */
  killPcscd(): Promise<void>;
  /** Start pcscd again; resolves when its socket is up, with the time that took. */
  ensureUp(): Promise<number>;
  /** Remove all cards, make sure pcscd runs, delete the card directory. */
  close(): Promise<void>;
}

export async function useTestbed(name: string): Promise<Testbed> {
  await testbedUp();
  // Cards left behind by a crashed earlier run would hold the slots.
  await removeAllCards();
  const cardDir = fs.mkdtempSync(path.join(os.tmpdir(), `otac-${name}-`));
  return {
    cardDir,
    readerName: vpcdReaderName,
    insert: (cardFile, slot, options) => insertCard(cardFile, slot, options),
    remove: (slot) => removeCard(slot),
    async killPcscd() {
      for (const p of findPcscd()) {
        process.kill(p.pid, 'SIGKILL');
        await stopProcess(p.pid, 2000);
      }
    },
    async ensureUp() {
      const began = Date.now();
      await testbedUp();
      return Date.now() - began;
    },
    async close() {
      await removeAllCards();
      await testbedUp();
      fs.rmSync(cardDir, { recursive: true, force: true });
    },
  };
}

/** Polls until `check` holds; fails with `what` after `timeoutMs`. For state, not for timing. */
export async function eventually(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
