/**
 * One virtual card in one vpcd slot, as its own process:
 *   npx tsx src/card-sim/card-process.ts --card FILE --slot N [--response-delay-ms MS]
 * Loads the card from its file, commits every persistent change back to it (atomically,
 * before answering, as a chip commits EEPROM before the status word) and stays inserted
 * until SIGTERM, which pulls it out. slots.ts starts and stops these.
 */
import path from 'node:path';
import { CardStore, writeFileAtomic } from './card-store';
import { runCardOnVpcd } from './vpcd-card-runner';
import { VirtualCard } from './virtual-card';

function parseArgs(argv: string[]): { card: string; slot: number; responseDelayMs?: number } {
  const value = (name: string): string | undefined => {
    const at = argv.indexOf(name);
    return at >= 0 ? argv[at + 1] : undefined;
  };
  const card = value('--card');
  const slot = Number(value('--slot') ?? '0');
  const delay = value('--response-delay-ms');
  if (!card || !Number.isInteger(slot)) {
    throw new Error('usage: card-process.ts --card FILE --slot N [--response-delay-ms MS]');
  }
  return { card: path.resolve(card), slot, ...(delay !== undefined ? { responseDelayMs: Number(delay) } : {}) };
}

function main(): void {
  const args = parseArgs(process.argv.slice(2));
  const record = new CardStore(path.dirname(args.card)).loadFile(args.card);
  const card = new VirtualCard(record, {
    // Same format as CardStore.save, but to this exact file whatever it is called.
    persist: (next) => writeFileAtomic(args.card, JSON.stringify(next, null, 1)),
  });
  runCardOnVpcd(card, {
    slot: args.slot,
    ...(args.responseDelayMs !== undefined ? { responseDelayMs: args.responseDelayMs } : {}),
    log: (line) => process.stderr.write(`${new Date().toISOString()} card ${record.cardId}: ${line}\n`),
  });
}

try {
  main();
} catch (err) {
  process.stderr.write(`card-process: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
