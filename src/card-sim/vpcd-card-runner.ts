import fs from 'node:fs';
import type { CardSide } from './card-side';
import { vpcdPort } from './testbed-paths';
import { VpcdLink, type VpcdLinkEvent } from './vpcd-link';

/** File descriptor 3, when the parent (slots.ts) passed a pipe there, carries "ready\n" once. */
const READY_FD = 3;

export interface RunOptions {
  slot: number;
  responseDelayMs?: number;
  /** Called after SIGTERM/SIGINT once the link is closed, e.g. to flush the card's store. */
  onStop?: () => void | Promise<void>;
  log?: (line: string) => void;
}

/**
 * Runs a card in a vpcd slot for the life of this process: the card stays "inserted"
 * (reconnecting while pcscd restarts) until SIGTERM, which pulls it out cleanly.
 * Tells the parent it is ready once PC/SC clients see it present.
 */
export function runCardOnVpcd(card: CardSide, options: RunOptions): VpcdLink {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  let powered = false;
  let atrsSinceConnect = 0;
  let readySent = false;
  const signalReady = (): void => {
    if (readySent) return;
    readySent = true;
    try {
      fs.writeSync(READY_FD, 'ready\n');
      fs.closeSync(READY_FD);
    } catch {
      // Started by hand, without the pipe: nobody is waiting.
    }
  };

  const onEvent = (event: VpcdLinkEvent): void => {
    if (event.type === 'power-on' || event.type === 'reset') powered = true;
    if (event.type === 'power-off') powered = false;
    // Ready when pcscd powered us and read the ATR, or polled presence twice: pcscd does not
    // power a card it believes never left (same ATR back before its next presence poll).
    if (event.type === 'atr' && (powered || ++atrsSinceConnect >= 2)) signalReady();
    if (event.type === 'connected' || event.type === 'disconnected') {
      log(`slot ${options.slot}: ${event.type}${event.type === 'disconnected' ? ` (${event.reason})` : ''}`);
      powered = false;
      atrsSinceConnect = 0;
    }
  };

  const link = new VpcdLink(card, {
    port: vpcdPort(options.slot),
    ...(options.responseDelayMs !== undefined ? { responseDelayMs: options.responseDelayMs } : {}),
    onEvent,
  });

  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    void (async () => {
      await link.remove();
      await options.onStop?.();
      log(`slot ${options.slot}: removed`);
      process.exit(0);
    })();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);

  link.insert();
  return link;
}
