import { AppError } from '../core/errors';
import { CardStore } from './card-store';
import { cardLine, summariseCard } from './card-summary';
import { insertCard, removeCard } from './slots';

// `npm run card -- <command>`: manage the virtual card stock (.data/cards or $OTAC_CARD_DIR)
// and put cards into / take them out of the vpcd reader slots.

export const CARD_CLI_USAGE = `usage: npm run card -- <command>
  create [--count n]          create n blank cards (default 1) in the stock directory
  list                        list the cards in stock
  show <card>                 show a card's state (no keys, PIN or codes)
  insert <card> [--slot n]    put a card into reader slot n (default 0); pcscd must be up
  remove [--slot n]           take the card out of slot n (default 0)
<card> is a card id, a unique prefix of one, or a card file path.
Stock directory: $OTAC_CARD_DIR or .data/cards`;

export interface CliIo {
  out(line: string): void;
}

function option(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(name);
  if (i < 0) return fallback;
  const v = Number(args[i + 1]);
  if (!Number.isInteger(v) || v < 0)
    throw new AppError('CLI_USAGE', `${name} needs a whole number.\n${CARD_CLI_USAGE}`);
  args.splice(i, 2);
  return v;
}

/** Runs one CLI command; resolves to the process exit code. */
export async function runCardCli(
  argv: readonly string[],
  io: CliIo,
  store: CardStore = new CardStore(),
): Promise<number> {
  const args = [...argv];
  const command = args.shift();
  switch (command) {
    case 'create': {
      const count = option(args, '--count', 1);
      for (const c of store.create(count)) io.out(`${c.cardId}  ${store.pathOf(c.cardId)}`);
      return 0;
    }
    case 'list': {
      const cards = store.list();
      if (cards.length === 0) io.out(`No cards in ${store.dir}. Create some with: npm run card -- create --count 3`);
      for (const c of cards) io.out(cardLine(c));
      return 0;
    }
    case 'show': {
      const ref = args[0];
      if (!ref) throw new AppError('CLI_USAGE', `show needs a card.\n${CARD_CLI_USAGE}`);
      io.out(JSON.stringify(summariseCard(store.loadFile(store.resolve(ref))), null, 2));
      return 0;
    }
    case 'insert': {
      const slot = option(args, '--slot', 0);
      const ref = args[0];
      if (!ref) throw new AppError('CLI_USAGE', `insert needs a card.\n${CARD_CLI_USAGE}`);
      const file = store.resolve(ref);
      await insertCard(file, slot);
      io.out(`Card ${store.loadFile(file).cardId} is in slot ${slot}.`);
      return 0;
    }
    case 'remove': {
      const slot = option(args, '--slot', 0);
      await removeCard(slot);
      io.out(`Slot ${slot} is empty.`);
      return 0;
    }
    default:
      io.out(CARD_CLI_USAGE);
      return command === undefined || command === 'help' || command === '--help' ? 0 : 2;
  }
}
