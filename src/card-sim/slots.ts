import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { repoRoot, testbedDir, vpcdPort } from './testbed-paths';

/**
 * Cards in vpcd slots, each a detached card process (card-process.ts) so it outlives the
 * command that inserted it and can be killed, stopped or hung on its own, like a real card.
 * The pid lives in .testbed/slot-N.pid; the card file is read back from the process's argv.
 */
export interface InsertedCard {
  slot: number;
  cardFile: string;
  pid: number;
}

export interface InsertOptions {
  /** Hold each R-APDU back this long after processing (a slow card, for fault tests). */
  responseDelayMs?: number;
  readyTimeoutMs?: number;
}

const pidFile = (slot: number): string => path.join(testbedDir(), `slot-${slot}.pid`);
const logFile = (slot: number): string => path.join(testbedDir(), `slot-${slot}.log`);
const CARD_PROCESS_ENTRY = path.join(__dirname, 'card-process.ts');

function processArgs(pid: number): string[] | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (/\) [ZX] /.test(stat)) return undefined;
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return undefined;
  }
}

/** The card process for a slot, if its pid file points at a live one. */
function slotProcess(slot: number): InsertedCard | undefined {
  let pid: number;
  try {
    pid = Number(fs.readFileSync(pidFile(slot), 'utf8').trim());
  } catch {
    return undefined;
  }
  const args = processArgs(pid);
  const cardAt = args?.indexOf('--card') ?? -1;
  if (!args || cardAt < 0 || !args.includes('--slot')) return undefined;
  return { slot, pid, cardFile: args[cardAt + 1] ?? '' };
}

export function insertedCards(): InsertedCard[] {
  const cards: InsertedCard[] = [];
  for (const slot of [0, 1]) {
    const card = slotProcess(slot);
    if (card) cards.push(card);
  }
  return cards;
}

/**
 * Starts the card process for `cardFile` in `slot` and resolves once pcscd has powered the
 * card and read its ATR (PC/SC clients then see it present). Rejects if the slot is taken.
 */
export async function insertCard(cardFile: string, slot: number, options: InsertOptions = {}): Promise<InsertedCard> {
  vpcdPort(slot);
  const taken = slotProcess(slot);
  if (taken) throw new Error(`slot ${slot} already holds ${taken.cardFile} (pid ${taken.pid})`);
  fs.mkdirSync(testbedDir(), { recursive: true });
  const absoluteCard = path.resolve(cardFile);
  const args = ['--import', 'tsx', CARD_PROCESS_ENTRY, '--card', absoluteCard, '--slot', String(slot)];
  if (options.responseDelayMs) args.push('--response-delay-ms', String(options.responseDelayMs));

  const logFd = fs.openSync(logFile(slot), 'a');
  // Spawn node itself (not the tsx wrapper) so the pid is the card: tests SIGSTOP and SIGKILL it.
  const child = spawn(process.execPath, args, {
    cwd: repoRoot(),
    detached: true,
    stdio: ['ignore', logFd, logFd, 'pipe'],
  });
  fs.closeSync(logFd);
  const pid = child.pid;
  if (pid === undefined) throw new Error('could not start the card process');
  fs.writeFileSync(pidFile(slot), `${pid}\n`);

  const ready = child.stdio[3];
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(
              `card in slot ${slot} was not seen by pcscd within ${options.readyTimeoutMs ?? 10000} ms; is the test bed up? see ${logFile(slot)}`,
            ),
          ),
        options.readyTimeoutMs ?? 10_000,
      );
      let text = '';
      ready?.on('data', (chunk: Buffer) => {
        text += chunk.toString();
        if (text.includes('ready')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`card process for slot ${slot} exited (${code ?? 'signal'}); see ${logFile(slot)}`));
      });
    });
  } catch (err) {
    await stopPid(pid);
    fs.rmSync(pidFile(slot), { force: true });
    throw err;
  } finally {
    ready?.destroy();
    child.removeAllListeners('exit');
    child.unref();
  }
  return { slot, pid, cardFile: absoluteCard };
}

/** SIGTERM the slot's card process (it closes its link: pcscd sees the card removed). */
export async function removeCard(slot: number): Promise<void> {
  const card = slotProcess(slot);
  if (card) await stopPid(card.pid);
  fs.rmSync(pidFile(slot), { force: true });
}

/** Empties both slots, including card processes whose pid file was lost (a crashed run). */
export async function removeAllCards(): Promise<void> {
  await Promise.all([0, 1].map((slot) => removeCard(slot)));
  await Promise.all(strayCardProcesses().map((pid) => stopPid(pid)));
}

function strayCardProcesses(): number[] {
  const strays: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const args = processArgs(Number(entry));
    if (args?.some((a) => a.endsWith(path.join('card-sim', 'card-process.ts'))) && args.includes('--slot'))
      strays.push(Number(entry));
  }
  return strays;
}

async function stopPid(pid: number): Promise<void> {
  const alive = (): boolean => processArgs(pid) !== undefined;
  const signal = (name: NodeJS.Signals): void => {
    try {
      process.kill(pid, name);
    } catch {
      // Already gone.
    }
  };
  // A stopped (SIGSTOP) card cannot act on SIGTERM until continued.
  signal('SIGCONT');
  signal('SIGTERM');
  for (let waited = 0; waited < 3000 && alive(); waited += 20) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  if (alive()) signal('SIGKILL');
  for (let waited = 0; waited < 2000 && alive(); waited += 20) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
