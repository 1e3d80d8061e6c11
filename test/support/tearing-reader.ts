import type { PcscReaderService } from '../../src/core/card/reader.service';
import type { CardReaderService } from '../../src/core/card/reader.types';
import type { CardTransport } from '../../src/core/card/transport';
import { eventually, type Testbed } from './testbed';

/** Where to tear: before APDU `at` the card is pulled, or after the card processed it, it dies unanswered. */
export type Cut = { at: number; how: 'pull' | 'die' } | null;

export interface Exchange {
  readonly command: Buffer;
  readonly response: Buffer;
}

/**
 * The PC/SC reader service of the test bed, with a transport that tears the card at APDU number
 * `cut.at` of a withCard: 'pull' takes the card out of the slot before the APDU; 'die' kills the
 * card process after it received the APDU (inserted with a response delay, so it has processed it
 * and the answer never comes back). For the tear tests of every card workflow.
 */
export class TearingReader {
  cut: Cut = null;
  /** APDUs sent in the last withCard. */
  sent = 0;
  /** A man in the middle: what the host receives instead of the card's answer (attack tests). */
  rewrite: ((command: Buffer, response: Buffer) => Buffer) | null = null;
  private cardPid = 0;
  readonly readers: CardReaderService;

  constructor(
    private readonly pcsc: PcscReaderService,
    private readonly bed: Testbed,
    private readonly slot: number,
    onExchange: (e: Exchange) => void = () => undefined,
  ) {
    this.readers = {
      start: () => pcsc.start(),
      stop: () => pcsc.stop(),
      onEvent: (l) => pcsc.onEvent(l),
      snapshot: () => pcsc.snapshot(),
      withCard: (reader, fn, options) =>
        pcsc.withCard(
          reader,
          (t, info) => {
            let n = 0;
            const wrapped: CardTransport = {
              transmit: async (command: Buffer): Promise<Buffer> => {
                const i = n++;
                this.sent = n;
                const cut = this.cut;
                if (cut?.at === i && cut.how === 'pull') await bed.remove(slot);
                if (cut?.at === i && cut.how === 'die') setTimeout(() => process.kill(this.cardPid, 'SIGKILL'), 120);
                const response = await t.transmit(command);
                onExchange({ command: Buffer.from(command), response: Buffer.from(response) });
                return this.rewrite ? this.rewrite(Buffer.from(command), response) : response;
              },
            };
            return fn(wrapped, info);
          },
          options,
        ),
    };
  }

  get readerName(): string {
    return this.bed.readerName(this.slot);
  }

  condition(): string | undefined {
    return this.pcsc.snapshot().readers.find((r) => r.name === this.readerName)?.condition;
  }

  /** Inserts the card file and waits until it is ready; `delayed` for a 'die' cut. */
  async put(cardFile: string, delayed: boolean): Promise<void> {
    const inserted = await this.bed.insert(cardFile, this.slot, delayed ? { responseDelayMs: 350 } : {});
    this.cardPid = inserted.pid;
    await eventually(() => this.condition() === 'ready', 'card ready', 8000);
  }

  async takeOut(): Promise<void> {
    await this.bed.remove(this.slot);
    await eventually(() => this.condition() === 'empty', 'reader empty', 8000);
  }
}
