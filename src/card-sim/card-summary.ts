import type { CardRecord } from './card-record';

// What may be shown about a virtual card: life cycle, N, counters, list id and codes remaining.
// Never a key, the PIN or a code — this is what the CLI prints and what logs may carry.

export interface CardSummary {
  readonly cardId: string;
  readonly lifeCycle: string;
  readonly n: string | null;
  readonly keyVersion: number;
  readonly pinTriesLeft: number;
  readonly activationTriesLeft: number;
  readonly keyPair: boolean;
  readonly list: {
    readonly listId: string;
    readonly listSeq: number;
    readonly expires: string;
    readonly entries: number;
    readonly remaining: number;
    readonly threshold: number;
    readonly lowCodes: boolean;
  } | null;
  readonly counters: CardRecord['counters'];
  readonly createdAt: string;
}

export function summariseCard(r: CardRecord): CardSummary {
  const remaining = r.list ? r.list.entries.filter((e) => !e.used).length : 0;
  return {
    cardId: r.cardId,
    lifeCycle: r.lifeCycle,
    n: r.n ?? null,
    keyVersion: r.keyVersion,
    pinTriesLeft: r.pinTriesLeft,
    activationTriesLeft: r.activationTriesLeft,
    keyPair: r.rsa !== undefined,
    list: r.list
      ? {
          listId: r.list.listId,
          listSeq: r.list.listSeq,
          expires: new Date(r.list.expiry * 1000).toISOString(),
          entries: r.list.entries.length,
          remaining,
          threshold: r.list.threshold,
          lowCodes: remaining <= r.list.threshold,
        }
      : null,
    counters: { ...r.counters },
    createdAt: r.createdAt,
  };
}

/** One line per card for `card list`. */
export function cardLine(r: CardRecord): string {
  const s = summariseCard(r);
  const list = s.list ? `list #${s.list.listSeq} ${s.list.remaining}/${s.list.entries} left` : 'no list';
  return `${s.cardId}  ${s.lifeCycle.padEnd(12)}  N=${(s.n ?? '-').padEnd(16)}  ${list}`;
}
