import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { AppError } from '../core/errors';
import type { KeystoreLocation } from '../core/keystore/keystore-holder.service';
import type { ChallengeService } from '../core/verification/challenge.service';
import type { VerificationService } from '../core/verification/verification.service';
import type { VerificationSource } from '../core/verification/verification-events.repository';
import { openVerificationCore, SERVICE_ACTOR, type Durability } from './service-core';

// The service on two threads (docs/verification-service.md "Two threads"): the main thread serves
// HTTP (parsing, API keys, schemas, the per-N rate limit, metrics), and this worker thread owns
// everything that decides and writes: the database connection the verifications write on, the group
// commit and its fdatasync, the keystore, core `verify` and the challenges. So there is still exactly
// one writer, one per-card order for the lockout and one rate limiter, as with one thread; the HTTP
// work (two thirds of the CPU per request) runs beside the verifications instead of before them.
//
// The main thread hands the calls of one event-loop turn over in one message, and the worker answers
// each call only once its writes are on disk (it awaits `durable()` itself): the main thread's answer
// to the client follows the worker's, so "accepted" still never precedes a durable use mark. A core
// error crosses as its code and message and is thrown again as the same AppError.

export interface CoreThreadOptions {
  readonly dataDir: string;
  readonly keystore: KeystoreLocation;
  /** The keystore's passphrase, handed over in memory to the thread that unlocks it. */
  readonly secret: string;
  readonly durability: Durability;
  readonly failureLimit?: number;
}

type Call =
  | { id: number; op: 'verify'; n: string; code: string; index: number | undefined; source: VerificationSource }
  | { id: number; op: 'issue'; n: string; source: VerificationSource }
  | { id: number; op: 'answer'; challengeId: string; answer: string; source: VerificationSource }
  | { id: number; op: 'caPem' };

type Reply = { id: number; ok: true; value: unknown } | { id: number; ok: false; code: string | null; message: string };

type Up =
  { kind: 'ready'; backend: string } | { kind: 'failed'; message: string } | { kind: 'replies'; replies: Reply[] };
type Down = { kind: 'calls'; calls: Call[] } | { kind: 'close' };

type Verify = Pick<VerificationService, 'verify'>['verify'];
type Challenges = Pick<ChallengeService, 'issue' | 'answer'>;

/** The main thread's side: the core's calls, answered by the worker thread once durable. */
export class CoreThread {
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>();
  private calls: Call[] = [];
  private flushing = false;
  private nextId = 1;
  private closing = false;

  private constructor(
    private readonly worker: Worker,
    /** The keystore backend the worker unlocked (for the start line). */
    readonly backend: string,
    private readonly onLost: (err: Error) => void,
  ) {
    worker.on('message', (up: Up) => {
      if (up.kind !== 'replies') return;
      for (const r of up.replies) {
        const p = this.pending.get(r.id);
        this.pending.delete(r.id);
        if (!p) continue;
        if (r.ok) p.resolve(r.value);
        else p.reject(r.code ? new AppError(r.code, r.message) : new Error(r.message));
      }
    });
    worker.on('exit', (code) => {
      const err = new Error(`the verification core thread stopped (exit ${code})`);
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
      if (!this.closing) this.onLost(err);
    });
  }

  /** Starts the worker; resolves once it has opened the database and unlocked the keystore. */
  static start(opts: CoreThreadOptions, onLost: (err: Error) => void): Promise<CoreThread> {
    // Run as TypeScript (npm run serve:verify, through tsx) the worker loads tsx's hook first.
    const worker = __filename.endsWith('.ts')
      ? new Worker(`require('tsx/cjs'); require(${JSON.stringify(__filename)});`, {
          eval: true,
          workerData: { ...opts, mark: MARK },
        })
      : new Worker(__filename, { workerData: { ...opts, mark: MARK } });
    return new Promise((resolve, reject) => {
      const first = (up: Up) => {
        worker.off('error', failed);
        if (up.kind === 'ready') resolve(new CoreThread(worker, up.backend, onLost));
        else reject(new Error(up.kind === 'failed' ? up.message : 'the core thread did not start'));
      };
      const failed = (err: Error) => reject(err);
      worker.once('message', first);
      worker.once('error', failed);
    });
  }

  readonly verify: Verify = (n, code, index, source = 'desk') =>
    this.call({ op: 'verify', n, code, index, source }) as ReturnType<Verify>;

  readonly challenges: Challenges = {
    issue: (n, source) => this.call({ op: 'issue', n, source }) as ReturnType<Challenges['issue']>,
    answer: (challengeId, answer, source) =>
      this.call({ op: 'answer', challengeId, answer, source }) as ReturnType<Challenges['answer']>,
  };

  /** The keystore's bank CA certificate (PEM), '' without one. */
  caCertificatePem(): Promise<string> {
    return this.call({ op: 'caPem' }) as Promise<string>;
  }

  async close(): Promise<void> {
    this.closing = true;
    const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    this.worker.postMessage({ kind: 'close' } satisfies Down);
    await exited;
  }

  private call(c: DistributiveOmit<Call, 'id'>): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.calls.push({ ...c, id });
      if (this.flushing) return;
      this.flushing = true;
      // One message per event-loop turn: the worker then runs the turn's calls in one group commit.
      setImmediate(() => {
        this.flushing = false;
        const calls = this.calls;
        this.calls = [];
        this.worker.postMessage({ kind: 'calls', calls } satisfies Down);
      });
    });
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** The worker thread's side. */
async function serveCore(opts: CoreThreadOptions): Promise<void> {
  const port = parentPort;
  if (!port) return;
  let core;
  try {
    core = openVerificationCore({
      dataDir: opts.dataDir,
      keystore: opts.keystore,
      durability: opts.durability,
      ...(opts.failureLimit !== undefined ? { failureLimit: opts.failureLimit } : {}),
    });
  } catch (err) {
    port.postMessage({ kind: 'failed', message: (err as Error).message } satisfies Up);
    return;
  }
  try {
    await core.keystore.unlock(opts.secret, SERVICE_ACTOR);
  } catch (err) {
    await core.close();
    port.postMessage({ kind: 'failed', message: (err as Error).message } satisfies Up);
    return;
  }
  core.log.info('verify service core thread started', { durability: opts.durability });
  const c = core;
  let replies: Reply[] = [];
  let flushing = false;
  const reply = (r: Reply) => {
    replies.push(r);
    if (flushing) return;
    flushing = true;
    setImmediate(() => {
      flushing = false;
      const out = replies;
      replies = [];
      port.postMessage({ kind: 'replies', replies: out } satisfies Up);
    });
  };
  const run = (call: Call): Promise<unknown> => {
    switch (call.op) {
      case 'verify':
        return c.verification.verify(call.n, call.code, call.index, call.source);
      case 'issue':
        return c.challenges.issue(call.n, call.source);
      case 'answer':
        return c.challenges.answer(call.challengeId, call.answer, call.source);
      case 'caPem':
        return c.keystore
          .current()
          .caCertificatePem()
          .catch(() => '');
    }
  };
  port.on('message', (down: Down) => {
    if (down.kind === 'close') {
      void c.close().then(() => port.close());
      return;
    }
    for (const call of down.calls) {
      run(call)
        .then(async (value) => {
          // As in app.ts with one thread: no answer before this call's writes are on disk.
          await c.durable();
          return value;
        })
        .then(
          (value) => reply({ id: call.id, ok: true, value }),
          (err: unknown) =>
            reply({
              id: call.id,
              ok: false,
              code: err instanceof AppError ? err.code : null,
              message: err instanceof Error ? err.message : String(err),
            }),
        );
    }
  });
  port.postMessage({ kind: 'ready', backend: c.keystore.backend } satisfies Up);
}

/** Marks the worker this module starts, so that importing it on any other thread starts nothing. */
const MARK = 'otac-verify-core-thread';

if (!isMainThread && (workerData as { mark?: unknown } | null)?.mark === MARK) {
  void serveCore(workerData as CoreThreadOptions);
}
