import { createInterface } from 'node:readline';
import { OtacCard } from '../../src/core/card/protocol/card-session';
import type { CardReaderService } from '../../src/core/card/reader.types';
import type { CardTransport } from '../../src/core/card/transport';
import { KeystoreCardKeyPort } from '../../src/core/keystore/keystore-card-key-port';
import { createWorkstation, type Workstation } from '../../src/core/workstation';
import type { CardInReader } from '../../src/shared/contract/activation.contract';
import type { AuditVerification } from '../../src/shared/contract/audit.contract';
import { CHEAP_SCRYPT, withRetry } from './activation-cards';
import { cardReadIn } from './enrollment';
import { value } from './operators';

// The workstation as a process of its own, for the kill test (test/integration/push/kill.test.ts):
// the real core (SQLite, keystore, PC/SC through pcscd) on a data directory the parent gives,
// driven at the desk's channels by JSON lines on stdin, answering JSON lines on stdout. The parent
// SIGKILLs it wherever it likes and starts another on the same directory.
//
// `drive` does what an operator does with the card in the reader until nothing is left to do: the
// card page (cards:inReader) says what the card is, and the clerk takes the next step — create the
// customer, enroll (or Retry an unfinished enrollment), activate with K from the mailer (the first
// list follows), Push list — the same steps whether the card is blank or a killed desk left a job
// half done. `stopAt` freezes the process at one APDU of the card workflows (before it is sent, or
// after the card answered and before the host saw the answer) and says so, so the parent's SIGKILL
// lands exactly there.

export interface ProcessConfig {
  readonly dataDir: string;
  readonly keystoreFile: string;
  readonly reader: string;
  readonly passphrase: string;
  readonly officer: { readonly username: string; readonly password: string };
  readonly clerk: { readonly username: string; readonly password: string };
  readonly pin: string;
}

export interface DriveCard {
  readonly cardId: string;
  readonly customerRef: string;
  readonly customerName: string;
}

/** Where to freeze: APDU number `apdu` of the drive, or the first APDU whose INS is `ins`. */
export type StopAt = { readonly apdu?: number; readonly ins?: number; readonly when: 'before' | 'after' };

export type Command =
  | { readonly op: 'drive'; readonly card: DriveCard; readonly stopAt?: StopAt }
  | { readonly op: 'check'; readonly card: DriveCard }
  | { readonly op: 'close' };

export interface CardCheck {
  /** GET STATE under secure messaging opened with the card's K (the keystore's current series). */
  readonly lifeCycle: string;
  readonly n: string | null;
  readonly keyVersion: number;
  readonly lastListSeq: number;
  readonly list: { readonly listId: string; readonly listSeq: number; readonly remaining: number } | null;
  /** The card's next code (VERIFY PIN, NEXT CODE) put to the core verify. */
  readonly verify: { readonly accepted: boolean; readonly reason?: string };
  readonly audit: Pick<AuditVerification, 'ok' | 'entries' | 'firstProblem'>;
}

export type Reply =
  | { readonly event: 'ready'; readonly pid: number }
  | { readonly event: 'stopped'; readonly apdu: number; readonly when: 'before' | 'after' }
  | { readonly event: 'done'; readonly steps: string[]; readonly apdus: number }
  | { readonly event: 'checked'; readonly check: CardCheck }
  | { readonly event: 'error'; readonly message: string };

const OFFICER_CLIENT = 'kill-officer';
const CLERK_CLIENT = 'kill-clerk';

function reply(r: Reply): void {
  // A pipe's write is synchronous on Linux: the line is out before the process can be killed.
  process.stdout.write(`${JSON.stringify(r)}\n`);
}

/** Counts the card workflows' APDUs (not the reader monitor's own reads) and freezes at `stopAt`. */
class ApduCounter {
  count = 0;
  stopAt: StopAt | null = null;

  wrap(readers: CardReaderService): void {
    const original = readers.withCard.bind(readers);
    readers.withCard = (name, fn, options) => {
      // The status bar's monitor reads each card when it goes in and after each workflow, on its
      // own schedule; only the workflows' APDUs make the kill points, so a seed replays the same cut.
      const monitor = new Error().stack?.includes('reader-monitor') ?? false;
      return original(name, (t, info) => fn(monitor ? t : this.counted(t), info), options);
    };
  }

  private counted(t: CardTransport): CardTransport {
    return {
      transmit: async (command: Buffer): Promise<Buffer> => {
        const i = this.count++;
        const ins = command[1];
        await this.maybeStop(i, ins, 'before');
        const response = await t.transmit(command);
        await this.maybeStop(i, ins, 'after');
        return response;
      },
    };
  }

  private async maybeStop(apdu: number, ins: number | undefined, when: 'before' | 'after'): Promise<void> {
    const at = this.stopAt;
    if (!at || at.when !== when || (at.apdu !== apdu && (at.ins === undefined || at.ins !== ins))) return;
    reply({ event: 'stopped', apdu, when });
    await new Promise<never>(() => undefined); // frozen here until the parent's SIGKILL
  }
}

class Desk {
  constructor(
    private readonly ws: Workstation,
    private readonly cfg: ProcessConfig,
  ) {}

  /** A desk call, clicked again while the card is busy with the monitor's read (CARD_BUSY). */
  async call<T>(client: string, channel: string, input: unknown): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const r = await this.ws.router.dispatch(client, channel, input);
      if (r.ok || r.error.code !== 'CARD_BUSY' || attempt >= 30) return value(r) as T;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** Waits until the status bar has read this card (so no read of the monitor is pending). */
  async cardSeated(cardId: string): Promise<void> {
    const deadline = Date.now() + 10_000;
    while ((await cardReadIn(this.ws, CLERK_CLIENT, this.cfg.reader)).cardId.toUpperCase() !== cardId.toUpperCase()) {
      if (Date.now() > deadline) throw new Error(`card ${cardId} was not read in ${this.cfg.reader}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  async drive(card: DriveCard): Promise<string[]> {
    const reader = this.cfg.reader;
    const steps: string[] = [];
    for (let round = 0; round < 8; round++) {
      const view = await this.call<CardInReader>(CLERK_CLIENT, 'cards:inReader', { reader });
      if (view.card?.cardId.toUpperCase() !== card.cardId.toUpperCase())
        throw new Error(`expected card ${card.cardId} in ${reader}, found ${view.card?.cardId ?? 'none'}`);
      if (view.reconciled.length) steps.push(`reconciled(${view.reconciled.join('; ')})`);
      const state = view.record?.state ?? null;
      if (state === null) {
        if (view.nextAction !== 'enroll') throw new Error(`a card without a record: ${view.note}`);
        const customerId = await this.customer(card);
        await this.call(CLERK_CLIENT, 'enrollment:enroll', { customerId, reader, cardId: card.cardId });
        steps.push('enroll');
      } else if (state === 'enrolling') {
        await this.call(CLERK_CLIENT, 'enrollment:retry', { reader, cardId: card.cardId });
        steps.push('enrollment-retry');
      } else if (state === 'awaiting_activation') {
        const mailer = await this.ws.keystore.current().formatCustomerKeyForMailer(view.record!.n, {
          operator: 'mia',
          role: 'manager',
          reason: 'kill test: the mailer the cardholder brought',
        });
        const done = await this.call<{ completedEarlier: boolean; followUps: { name: string; ok: boolean }[] }>(
          CLERK_CLIENT,
          'activation:activate',
          { reader, key: mailer.formatted, pin: this.cfg.pin, pinRepeat: this.cfg.pin },
        );
        steps.push(done.completedEarlier ? 'activate(completed earlier)' : 'activate');
        for (const f of done.followUps) steps.push(`${f.name}:${f.ok ? 'ok' : 'failed'}`);
      } else if (state === 'active') {
        const pushed = await this.call<{ outcome: string; seq?: number }>(CLERK_CLIENT, 'push:pushNext', { reader });
        steps.push(`push:${pushed.outcome}`);
        if (pushed.outcome === 'nothing-to-push') return steps;
      } else {
        throw new Error(`card ${card.cardId} is ${state}`);
      }
    }
    throw new Error(`no end after 8 rounds: ${steps.join(', ')}`);
  }

  private async customer(card: DriveCard): Promise<number> {
    const found = await this.call<{ customers: { id: number; customerRef: string | null }[] }>(
      CLERK_CLIENT,
      'customers:search',
      { query: card.customerRef, field: 'customerRef' },
    );
    const same = found.customers.filter((c) => c.customerRef === card.customerRef);
    if (same.length > 1) throw new Error(`customer ${card.customerRef} exists ${same.length} times`);
    if (same[0]) return same[0].id;
    const saved = await this.call<{ status: string; customer: { id: number } }>(CLERK_CLIENT, 'customers:create', {
      customer: {
        fullName: card.customerName,
        customerRef: card.customerRef,
        address: { line1: '1 Kill Street', postalCode: '9999', city: 'Testing', country: 'GB' },
        branch: 'Main',
      },
      confirmDuplicates: true,
    });
    return saved.customer.id;
  }

  async check(card: DriveCard): Promise<CardCheck> {
    const readers = this.ws.readers!;
    const ks = this.ws.keystore.current();
    const port = new KeystoreCardKeyPort(ks);
    const busy = <T>(fn: (t: CardTransport) => Promise<T>): Promise<T> =>
      withRetry(() => readers.withCard(this.cfg.reader, fn));
    const state = await busy(async (t) => {
      const c = new OtacCard(t);
      const info = await c.select();
      if (info.cardId.toUpperCase() !== card.cardId.toUpperCase()) throw new Error('another card in the reader');
      const plain = await c.getState();
      if (!plain.n) return plain;
      const key = await port.cardKey(plain.n);
      try {
        return await (await c.openSecureChannel(port, key, plain.keyVersion)).readState();
      } finally {
        await port.release(key);
      }
    });
    const code = await busy(async (t) => {
      const c = new OtacCard(t);
      await c.select();
      await c.verifyPin(this.cfg.pin);
      return c.nextCode();
    });
    const verdict = await this.ws.verification.verify(state.n ?? '', code.code, code.index);
    const audit = await this.call<AuditVerification>(OFFICER_CLIENT, 'audit:verify', {});
    return {
      lifeCycle: state.lifeCycle,
      n: state.n ?? null,
      keyVersion: state.keyVersion,
      lastListSeq: state.lastListSeq,
      list: state.list
        ? { listId: state.list.listId, listSeq: state.list.listSeq, remaining: state.list.remaining }
        : null,
      verify: verdict.accepted ? { accepted: true } : { accepted: false, reason: verdict.reason },
      audit: { ok: audit.ok, entries: audit.entries, firstProblem: audit.firstProblem },
    };
  }
}

async function main(): Promise<void> {
  const cfg = JSON.parse(process.env['OTAC_PROCESS_CONFIG'] ?? '') as ProcessConfig;
  const ws = createWorkstation({
    dataDir: cfg.dataDir,
    shell: 'browser',
    version: 'kill-test',
    readers: 'pcsc',
    keystore: { backend: 'software', file: cfg.keystoreFile, scryptCost: CHEAP_SCRYPT },
  });
  const desk = new Desk(ws, cfg);
  value(await ws.router.dispatch(OFFICER_CLIENT, 'auth:signIn', cfg.officer));
  value(await ws.router.dispatch(OFFICER_CLIENT, 'keys:unlock', { passphrase: cfg.passphrase }));
  value(await ws.router.dispatch(CLERK_CLIENT, 'auth:signIn', cfg.clerk));
  const counter = new ApduCounter();
  counter.wrap(ws.readers!);
  reply({ event: 'ready', pid: process.pid });

  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    const cmd = JSON.parse(line) as Command;
    try {
      if (cmd.op === 'close') {
        await ws.close();
        return;
      }
      await desk.cardSeated(cmd.card.cardId);
      if (cmd.op === 'drive') {
        counter.count = 0;
        counter.stopAt = cmd.stopAt ?? null;
        const steps = await desk.drive(cmd.card);
        counter.stopAt = null;
        reply({ event: 'done', steps, apdus: counter.count });
      } else {
        reply({ event: 'checked', check: await desk.check(cmd.card) });
      }
    } catch (err) {
      reply({ event: 'error', message: err instanceof Error ? err.message : String(err) });
    }
  }
  await ws.close();
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    reply({ event: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
    process.exit(1);
  },
);
