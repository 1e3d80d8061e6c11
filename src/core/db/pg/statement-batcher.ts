import { sqlState } from './pg-database';

/** How a `StatementBatcher` groups; the defaults suit a pool of 20 connections. */
export interface Batching {
  /** Statements out at once; what is asked for meanwhile waits for the next one. */
  readonly inFlight: number;
  /** Items in one statement at most. */
  readonly most: number;
}
export const DEFAULT_BATCHING: Batching = { inFlight: 4, most: 64 };

/** What a `StatementBatcher` runs. */
export interface BatchWork<I, O> {
  /** Items with the same key never share a statement; batches are in key order. None: any may. */
  readonly key?: (item: I) => number;
  /** ONE statement for several items (two or more), answering each, in the order given. */
  together(items: readonly I[]): Promise<O[]>;
  /** The statement for one item by itself: a batch of one, and each item of a batch the server refused. */
  alone(item: I): Promise<O>;
}

interface Waiting<I, O> {
  readonly item: I;
  resolve(value: O): void;
  reject(err: unknown): void;
}

/**
 * Group commit on PostgreSQL (issue 12, the verification benchmark against pgbench): while
 * `inFlight` statements are out, what is asked for meanwhile waits and goes together as ONE
 * statement (`together`): one round trip, one parse of the answer and, for a write, one commit and
 * its WAL flush for all, where each alone costs what a pgbench transaction costs. A lone item
 * still goes at once (after this turn's I/O, so what the same turn asked for goes together) with
 * its own statement (`alone`); under load the batches grow by themselves.
 *
 * A batch is one statement: the server refusing it (an SQLSTATE outside the connection classes: a
 * deadlock, a constraint) wrote nothing, and each item then runs alone, so one item's fault is its
 * own. A lost connection is told to every item of the batch and nothing is sent again: whether a
 * write committed is unknown, as for one statement.
 */
export class StatementBatcher<I, O> {
  private readonly waiting: Waiting<I, O>[] = [];
  private out = 0;
  private scheduled = false;

  constructor(
    private readonly work: BatchWork<I, O>,
    private readonly batching: Batching = DEFAULT_BATCHING,
  ) {}

  add(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.out >= this.batching.inFlight || this.waiting.length === 0) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      while (this.out < this.batching.inFlight && this.waiting.length > 0) {
        const batch = this.take();
        this.out++;
        void this.send(batch).finally(() => {
          this.out--;
          this.schedule();
        });
      }
    });
  }

  /** Up to `most` waiting items, one per key, in key order; the others keep their place. */
  private take(): Waiting<I, O>[] {
    const key = this.work.key;
    if (!key) return this.waiting.splice(0, this.batching.most);
    const keys = new Set<number>();
    const batch: Waiting<I, O>[] = [];
    const rest: Waiting<I, O>[] = [];
    for (const w of this.waiting) {
      const k = key(w.item);
      if (batch.length < this.batching.most && !keys.has(k)) {
        keys.add(k);
        batch.push(w);
      } else rest.push(w);
    }
    this.waiting.splice(0, this.waiting.length, ...rest);
    return batch.sort((a, b) => key(a.item) - key(b.item));
  }

  private async send(batch: readonly Waiting<I, O>[]): Promise<void> {
    if (batch.length === 1) {
      for (const w of batch) await this.alone(w);
      return;
    }
    let answers: O[];
    try {
      answers = await this.work.together(batch.map((w) => w.item));
    } catch (err) {
      if (refusedByServer(err)) await Promise.all(batch.map((w) => this.alone(w)));
      else for (const w of batch) w.reject(err);
      return;
    }
    if (answers.length !== batch.length) {
      const err = new Error(`a batch of ${batch.length} was answered ${answers.length} times`);
      for (const w of batch) w.reject(err);
      return;
    }
    batch.forEach((w, i) => w.resolve(answers[i] as O));
  }

  private async alone(w: Waiting<I, O>): Promise<void> {
    try {
      w.resolve(await this.work.alone(w.item));
    } catch (err) {
      w.reject(err);
    }
  }
}

/** The server answered with an error (an SQLSTATE outside the connection classes): the statement wrote nothing. */
function refusedByServer(err: unknown): boolean {
  const state = sqlState(err);
  return state !== undefined && !state.startsWith('08') && !state.startsWith('57P');
}
