import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { AppError } from '../core/errors';
import { newBlankCard, parseCardRecord, type CardRecord } from './card-record';

// The card stock "drawer": one JSON file per virtual card. Writes go to a temp file in the same
// directory, are fsynced, then renamed over the card file, so a process killed at any instant
// leaves either the old or the new card, never half of one (like a card's EEPROM transaction).

export const DEFAULT_CARD_DIR = '.data/cards';

export function cardDirFromEnv(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env['OTAC_CARD_DIR'] ?? DEFAULT_CARD_DIR);
}

// One atomic write for the whole code base: a killed card process never leaves a half-written card.
import { writeFileAtomic } from '../core/atomic-file';

export { writeFileAtomic };

export class CardStore {
  constructor(readonly dir: string = cardDirFromEnv()) {}

  pathOf(cardId: string): string {
    return join(this.dir, `${cardId}.json`);
  }

  create(count = 1): CardRecord[] {
    if (!Number.isInteger(count) || count < 1 || count > 1000) {
      throw new AppError('CARD_COUNT_INVALID', 'Create between 1 and 1000 cards at a time.');
    }
    mkdirSync(this.dir, { recursive: true });
    const out: CardRecord[] = [];
    for (let i = 0; i < count; i++) {
      const rec = newBlankCard();
      this.save(rec);
      out.push(rec);
    }
    return out;
  }

  save(rec: CardRecord): void {
    mkdirSync(this.dir, { recursive: true });
    writeFileAtomic(this.pathOf(rec.cardId), JSON.stringify(rec, null, 1));
  }

  list(): CardRecord[] {
    if (!existsSync(this.dir)) return [];
    return readdirSync(this.dir)
      .filter((f) => /^[0-9a-f]{16}\.json$/.test(f))
      .sort()
      .map((f) => this.loadFile(join(this.dir, f)));
  }

  loadFile(path: string): CardRecord {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch {
      throw new AppError('CARD_NOT_FOUND', `No card file at ${path}. Run "npm run card -- list" to see the stock.`);
    }
    return parseCardRecord(text, basename(path));
  }

  /** A card by file path, full card id or unique id prefix. */
  resolve(ref: string): string {
    if (ref.endsWith('.json') && existsSync(ref)) return resolve(ref);
    const matches = this.list().filter((c) => c.cardId.startsWith(ref.toLowerCase()));
    if (matches.length === 1 && matches[0]) return this.pathOf(matches[0].cardId);
    throw new AppError(
      'CARD_NOT_FOUND',
      matches.length === 0
        ? `No card "${ref}" in ${this.dir}. Run "npm run card -- list" to see the stock.`
        : `"${ref}" matches ${matches.length} cards; give more digits of the card id.`,
    );
  }
}
