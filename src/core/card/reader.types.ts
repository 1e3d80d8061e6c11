import type { CardTransport } from './transport';

/**
 * What the workstation knows about card readers, as the UI shows it and workflows use it.
 * Implemented over PC/SC (reader.service.ts) and in-process (training-reader.ts); both
 * have the same shape so the app does not care which one it got. No Buffers in events:
 * they cross IPC, so ATRs travel as uppercase hex.
 */
export type ServiceState = 'starting' | 'running' | 'pcscd-down' | 'recovering' | 'stopped';

/** empty: no card. ready: a card we may talk to. in-use: our own operation is running on it.
 *  not-responding: it stopped answering mid-command. mute: it gave no ATR. unknown-card: ATR not ours. */
export type ReaderCondition = 'empty' | 'ready' | 'in-use' | 'not-responding' | 'mute' | 'unknown-card';

export interface ReaderInfo {
  name: string;
  cardPresent: boolean;
  /** Answer-to-reset of the card in the reader (hex). */
  atr?: string;
  condition: ReaderCondition;
}

export type ReaderEvent =
  | { type: 'readers'; readers: ReaderInfo[] }
  | { type: 'card-inserted'; reader: string; atr: string }
  | { type: 'card-removed'; reader: string }
  | { type: 'service'; state: ServiceState; detail?: string };

export interface ReaderSnapshot {
  state: ServiceState;
  readers: ReaderInfo[];
}

export interface CardSessionInfo {
  reader: string;
  atr: Buffer;
}

export interface WithCardOptions {
  /** Per-exchange limit; a card silent for longer is reported as CARD_TIMEOUT. */
  timeoutMs?: number;
  /** How to leave the card afterwards. Default: 'leave' on success, 'reset' on failure,
   *  so a half-finished session (secure channel, PIN state) never outlives an error. */
  endWith?: 'leave' | 'reset';
}

export type ReaderEventListener = (event: ReaderEvent) => void;

export interface CardReaderService {
  /** Begin watching readers. Never throws: a missing pcscd shows as state 'pcscd-down'. */
  start(): void;
  stop(): Promise<void>;
  /** Subscribe; returns the unsubscribe function. */
  onEvent(listener: ReaderEventListener): () => void;
  snapshot(): ReaderSnapshot;
  /**
   * Runs `fn` with exclusive use of the card in `reader` (no other process can interleave
   * APDUs) and releases it afterwards whatever happens. Throws AppError READER_NONE,
   * READER_NOT_FOUND, CARD_ABSENT, CARD_MUTE, CARD_UNKNOWN, CARD_BUSY, CARD_TIMEOUT,
   * CARD_REMOVED or PCSC_DOWN, each with a message that says what to do next.
   */
  withCard<T>(
    reader: string,
    fn: (transport: CardTransport, card: CardSessionInfo) => Promise<T>,
    options?: WithCardOptions,
  ): Promise<T>;
}
