import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  insertCard,
  removeAllCards,
  removeCard,
  type InsertedCard,
  type InsertOptions,
} from '../../src/card-sim/slots';
import { testbedDir, vpcdReaderName } from '../../src/card-sim/testbed-paths';
import { findPcscd, isAlive, stopProcess, testbedUp } from '../../scripts/testbed/testbed-control';

/**
 * Integration tests' door to the PC/SC test bed: makes sure pcscd + vpcd run (the same `up`
 * as `npm run testbed -- up`), gives each test file a fresh card directory, and puts cards in
 * slots as separate processes. pcscd and the two slots are one per machine, so a test file
 * holds .testbed/slots.lock from useTestbed() to close(): a second test run on the same
 * machine waits instead of pulling this run's cards. Whoever stops pcscd brings it back
 * with ensureUp() before finishing.
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

const lockFile = (): string => path.join(testbedDir(), 'slots.lock');

/** Takes the machine's slot lock; a lock whose holder died (or is this process) is taken over. */
async function lockSlots(waitMs = 50_000): Promise<void> {
  fs.mkdirSync(testbedDir(), { recursive: true });
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      fs.writeFileSync(lockFile(), `${process.pid}\n`, { flag: 'wx' });
      return;
    } catch {
      let holder: number;
      try {
        holder = Number(fs.readFileSync(lockFile(), 'utf8').trim());
      } catch {
        continue; // Released between our two looks.
      }
      if (!holder || holder === process.pid || !isAlive(holder)) {
        fs.rmSync(lockFile(), { force: true });
        continue;
      }
      if (Date.now() > deadline)
        throw new Error(`the PC/SC test bed is in use by process ${holder} (another test run); try again when it ends`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

function unlockSlots(): void {
  try {
    if (Number(fs.readFileSync(lockFile(), 'utf8').trim()) === process.pid) fs.rmSync(lockFile());
  } catch {
    // Not held.
  }
}

export async function useTestbed(name: string): Promise<Testbed> {
  await lockSlots();
  try {
    await testbedUp();
    // Cards left behind by a crashed earlier run would hold the slots.
    await removeAllCards();
  } catch (err) {
    unlockSlots();
    throw err;
  }
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
      try {
        await removeAllCards();
        await testbedUp();
        fs.rmSync(cardDir, { recursive: true, force: true });
      } finally {
        unlockSlots();
      }
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

/** `eventually` for a check that must ask the database (deskSql is async on both engines). */
export async function eventuallyAsync(check: () => Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
