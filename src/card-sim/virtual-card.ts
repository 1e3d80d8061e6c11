import { randomBytes } from 'node:crypto';
import { encodeResponse } from '../core/card/apdu.codec';
import { SW } from '../core/card/status-words';
import type { AppletContext, TransientState } from './applet-context';
import { CardApduIo } from './card-apdu-io';
import type { CardRecord } from './card-record';
import type { CardSide } from './card-side';
import { dispatch } from './otac-applet';

/**
 * The OTAC card as a CardSide: persistent record (the chip's EEPROM) plus transient state
 * (RAM). Every persistent change goes through `persist` before the card answers, as a card
 * commits its EEPROM transaction before sending the status word; if persisting throws, the
 * card keeps its previous state and answers 6F00.
 */
export interface VirtualCardOptions {
  /** Called with the new record on every persistent change; e.g. CardStore.save. */
  readonly persist?: (record: CardRecord) => void;
  /** Randomness source for card challenges (tests may inject a deterministic one). */
  readonly random?: (n: number) => Buffer;
}

function freshTransient(): TransientState {
  return { selected: false, pinVerified: false, session: undefined, staging: undefined };
}

/** The applet's view of the card: persistent record, RAM state, and the transaction primitive. */
class CardContext implements AppletContext {
  t: TransientState = freshTransient();

  constructor(
    public rec: CardRecord,
    private readonly options: VirtualCardOptions,
  ) {}

  random(n: number): Buffer {
    return (this.options.random ?? randomBytes)(n);
  }

  transact(mutate: (draft: CardRecord) => void): boolean {
    const draft = structuredClone(this.rec);
    mutate(draft);
    try {
      this.options.persist?.(draft);
    } catch {
      return false;
    }
    this.rec = draft;
    return true;
  }
}

export class VirtualCard implements CardSide {
  private readonly io = new CardApduIo();
  private readonly ctx: CardContext;

  constructor(record: CardRecord, options: VirtualCardOptions = {}) {
    this.ctx = new CardContext(structuredClone(record), options);
  }

  /** A copy of the persistent state (for the CLI summary and tests). */
  get record(): CardRecord {
    return structuredClone(this.ctx.rec);
  }

  atr(): Buffer {
    return Buffer.from(this.ctx.rec.atrHex, 'hex');
  }

  powerOn(): void {
    this.ctx.t = freshTransient();
    this.io.reset();
  }

  powerOff(): void {
    this.ctx.t = freshTransient();
    this.io.reset();
  }

  reset(): void {
    this.powerOff();
    this.powerOn();
  }

  process(commandApdu: Buffer): Buffer {
    try {
      return this.io.handle(commandApdu, (cmd) => dispatch(this.ctx, cmd));
    } catch {
      // A card never crashes the reader: an internal fault is 6F00 and the transient state is dropped.
      this.ctx.t = freshTransient();
      this.io.reset();
      return encodeResponse(Buffer.alloc(0), SW.UNKNOWN);
    }
  }
}
