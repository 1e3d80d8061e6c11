import { newBlankCard } from '../src/card-sim/card-record';
import { VirtualCard } from '../src/card-sim/virtual-card';
import { findPcscd, stopPcscd } from '../scripts/testbed/testbed-control';
import type { CardReaderService, WithCardOptions } from '../src/core/card/reader.types';
import type { CardTransport } from '../src/core/card/transport';
import { TRAINING_READER_NAME, TrainingReaderService } from '../src/core/card/training-reader';
import type { DeskWorkstation } from '../src/core/workstation';
import type { ReaderSnapshot } from '../src/shared/contract';
import { cardDesk } from '../test/support/activation-cards';
import { addCustomer } from '../test/support/enrollment';
import { addOperator, value, type TestOperator } from '../test/support/operators';
import { createTestCard } from '../test/support/test-cards';
import { eventually, useTestbed, type Testbed } from '../test/support/testbed';

// The desk time to serve one customer's card (issue 9, "npm run bench"): enroll a blank card
// (PERSONALISE under the transport key), activate it with K from the mailer, and push the first
// list of 100 codes (the policy default) — through the workstation's own services and contract
// (enrollment:enroll, activation:activate, whose first list follows at once), over pcsclite →
// pcscd → vpcd → the virtual card process. Baseline in the same run: the same flow on the
// in-process training reader (same VirtualCard code, no PC/SC), so the ratio is what the PC/SC
// stack costs a desk. APDUs are counted by a wrapper around the reader service's transports, per
// phase; the reader monitor's status reads (its own sessions) are counted apart. Medians of
// OTAC_BENCH_DESK_RUNS runs (default 21) after 2 warm-ups. Takes about a minute.
// The PC/SC test bed is taken under its machine lock; pcscd is stopped afterwards if this bench
// started it, and every card process it started is removed.

type Report = (name: string, value: number, unit: string) => void;
const INS_NAMES: Record<number, string> = {
  0xa4: 'select',
  0xca: 'get_state',
  0x50: 'open_session',
  0xe0: 'personalise',
  0x30: 'activate',
  0x52: 'stage_list',
  0x54: 'commit_list',
  0x56: 'get_receipt',
};
type Phase = 'personalise' | 'activate' | 'push';
const RUNS = Number(process.env.OTAC_BENCH_DESK_RUNS ?? 21);
const WARM_UPS = 2;
const PIN = '4711';
/** The reader monitor's reads are the sessions it opens with this timeout (reader-monitor.service.ts). */
const MONITOR_TIMEOUT_MS = 3000;

interface RunFigures {
  /** enrollment:enroll, start to answer. */
  personaliseMs: number;
  /** activation:activate, start to the end of the card session that sent ACTIVATE. */
  activateMs: number;
  /** The first list's card session: GET STATE, sealing in the keystore, STAGE LIST, COMMIT, receipt. */
  pushMs: number;
  /** Both calls, start to answer: what the person at the desk waits. */
  totalMs: number;
  apdus: Record<Phase, number>;
  /** Time spent inside transmit (command out, answer back), per phase. */
  apduMs: Record<Phase, number>;
  statusReadApdus: number;
}

/** Counts the APDUs of every card session the workstation opens, and times the workflow sessions. */
class ApduCounter {
  phase: 'personalise' | 'activate' | null = null;
  apdus: Record<Phase, number> = { personalise: 0, activate: 0, push: 0 };
  apduMs: Record<Phase, number> = { personalise: 0, activate: 0, push: 0 };
  statusReads = 0;
  /** Every workflow APDU's time by INS, over all runs (not reset per run). */
  readonly byIns = new Map<string, number[]>();
  /** Start and end (ms) of each workflow session in the current phase. */
  sessions: { start: number; end: number }[] = [];

  /** Wraps the service's withCard in place: the modules hold this very object, so all their sessions pass here. */
  install(readers: CardReaderService): void {
    const inner = readers.withCard.bind(readers);
    readers.withCard = async <T>(
      reader: string,
      fn: Parameters<CardReaderService['withCard']>[1],
      options?: WithCardOptions,
    ): Promise<T> => {
      const monitor = options?.timeoutMs === MONITOR_TIMEOUT_MS;
      // In activation:activate the first workflow session is ACTIVATE's, the next the first list's push.
      const phase: Phase | null =
        this.phase === 'activate' && !monitor && this.sessions.length > 0 ? 'push' : this.phase;
      const slot = monitor ? undefined : { start: performance.now(), end: 0 };
      if (slot && this.phase) this.sessions.push(slot);
      try {
        return (await inner(
          reader,
          (t, card) =>
            fn(
              this.counting(t, () => (monitor ? 'status' : phase)),
              card,
            ),
          options,
        )) as T;
      } finally {
        if (slot) slot.end = performance.now();
      }
    };
  }

  private counting(t: CardTransport, phaseOf: () => Phase | 'status' | null): CardTransport {
    return {
      transmit: async (command: Buffer): Promise<Buffer> => {
        const sent = performance.now();
        const answer = await t.transmit(command);
        const p = phaseOf();
        if (p === 'status') {
          if (this.phase) this.statusReads++;
        } else if (p) {
          const ms = performance.now() - sent;
          this.apdus[p]++;
          this.apduMs[p] += ms;
          const ins = INS_NAMES[command[1] ?? 0] ?? `INS ${(command[1] ?? 0).toString(16)}`;
          this.byIns.set(ins, [...(this.byIns.get(ins) ?? []), ms]);
        }
        return answer;
      },
    };
  }

  begin(phase: 'personalise' | 'activate'): void {
    this.phase = phase;
    this.sessions = [];
  }

  reset(): void {
    this.phase = null;
    this.apdus = { personalise: 0, activate: 0, push: 0 };
    this.apduMs = { personalise: 0, activate: 0, push: 0 };
    this.statusReads = 0;
    this.sessions = [];
  }
}

interface DeskUnderTest {
  ws: DeskWorkstation;
  clerk: TestOperator;
  reader: string;
  /** A fresh blank card into the reader; resolves when the reader monitor has read it. */
  insertBlank(): Promise<void>;
  removeCard(): Promise<void>;
  dispose(): Promise<void>;
}

/** Waits until the reader monitor (the desk's status bar) shows the card in `lifeCycle`, or no card (null). */
async function monitorShows(d: { ws: DeskWorkstation; clerk: TestOperator }, reader: string, lifeCycle: string | null) {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const snap = value(await d.ws.router.dispatch(d.clerk.client, 'reader:status', {})) as ReaderSnapshot;
    const r = snap.readers.find((x) => x.name === reader);
    if (lifeCycle === null ? !r?.cardPresent : r?.cardPresent && r.card?.lifeCycle === lifeCycle) return;
    if (Date.now() > deadline) throw new Error(`${reader}: waited for ${lifeCycle ?? 'no card'}: ${JSON.stringify(r)}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function desk(mode: 'pcsc' | 'training', bed: Testbed | undefined): Promise<DeskUnderTest> {
  const d = await cardDesk(mode);
  const ws = d.ws;
  const clerk = await addOperator(ws, 'clerk');
  const readers = ws.readers as CardReaderService;
  if (mode === 'training') {
    const training = readers as TrainingReaderService;
    return {
      ws,
      clerk,
      reader: TRAINING_READER_NAME,
      async insertBlank() {
        training.insert(new VirtualCard(newBlankCard()));
        await monitorShows({ ws, clerk }, TRAINING_READER_NAME, 'blank');
      },
      async removeCard() {
        training.remove();
        await monitorShows({ ws, clerk }, TRAINING_READER_NAME, null);
      },
      dispose: d.dispose,
    };
  }
  if (!bed) throw new Error('the PC/SC desk needs the test bed');
  const reader = bed.readerName(0);
  await eventually(() => readers.snapshot().readers.some((r) => r.name === reader), 'the vpcd reader', 10_000);
  return {
    ws,
    clerk,
    reader,
    async insertBlank() {
      await bed.insert(createTestCard(bed.cardDir).file, 0);
      await monitorShows({ ws, clerk }, reader, 'blank');
    },
    async removeCard() {
      await bed.remove(0);
      await monitorShows({ ws, clerk }, reader, null);
    },
    dispose: d.dispose,
  };
}

async function serveOneCustomer(d: DeskUnderTest, counter: ApduCounter, i: number): Promise<RunFigures> {
  const { ws, clerk, reader } = d;
  await d.insertBlank();
  const customer = await addCustomer(ws, `Bench Customer ${i}`);
  counter.reset();

  counter.begin('personalise');
  const began = performance.now();
  const enrolled = value(
    await ws.router.dispatch(clerk.client, 'enrollment:enroll', { customerId: customer.id, reader }),
  ) as { n: string };
  const personaliseMs = performance.now() - began;
  counter.phase = null;

  // Not timed: the mailer (K) is printed elsewhere, and the monitor's read after enrollment settles.
  const mailer = await ws.keystore
    .current()
    .formatCustomerKeyForMailer(enrolled.n, { operator: 'mia', role: 'manager', reason: 'bench mailer' });
  await monitorShows(d, reader, 'personalised');

  counter.begin('activate');
  const activationBegan = performance.now();
  const activated = value(
    await ws.router.dispatch(clerk.client, 'activation:activate', {
      reader,
      key: mailer.formatted,
      pin: PIN,
      pinRepeat: PIN,
    }),
  ) as { followUps: { name: string; ok: boolean; message: string }[] };
  const ended = performance.now();
  const [activation, push] = counter.sessions;
  counter.phase = null;
  if (!activated.followUps.every((f) => f.ok) || !activation || !push)
    throw new Error(`the first list did not follow activation: ${JSON.stringify(activated.followUps)}`);
  const figures: RunFigures = {
    personaliseMs,
    activateMs: activation.end - activationBegan,
    pushMs: push.end - push.start,
    totalMs: personaliseMs + (ended - activationBegan),
    apdus: { ...counter.apdus },
    apduMs: { ...counter.apduMs },
    statusReadApdus: counter.statusReads,
  };
  await d.removeCard();
  return figures;
}

async function measure(d: DeskUnderTest): Promise<{ runs: RunFigures[]; byIns: Map<string, number[]> }> {
  const counter = new ApduCounter();
  counter.install(d.ws.readers as CardReaderService);
  const runs: RunFigures[] = [];
  for (let i = 0; i < WARM_UPS + RUNS; i++) {
    if (i === WARM_UPS) counter.byIns.clear();
    const r = await serveOneCustomer(d, counter, i);
    if (i >= WARM_UPS) runs.push(r);
  }
  return { runs, byIns: counter.byIns };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] ?? 0) : ((s[m - 1] ?? 0) + (s[m] ?? 0)) / 2;
}

function reportRuns(report: Report, prefix: string, { runs, byIns }: Awaited<ReturnType<typeof measure>>): void {
  report(`${prefix}.total`, median(runs.map((r) => r.totalMs)), 'ms');
  report(`${prefix}.personalise`, median(runs.map((r) => r.personaliseMs)), 'ms');
  report(`${prefix}.activate`, median(runs.map((r) => r.activateMs)), 'ms');
  report(`${prefix}.push_100_codes`, median(runs.map((r) => r.pushMs)), 'ms');
  for (const p of ['personalise', 'activate', 'push'] as const) {
    report(`${prefix}.apdus.${p}`, median(runs.map((r) => r.apdus[p])), 'APDUs');
    report(`${prefix}.apdu_time.${p}`, median(runs.map((r) => r.apduMs[p])), 'ms');
  }
  report(`${prefix}.apdus.status_reads`, median(runs.map((r) => r.statusReadApdus)), 'APDUs');
  for (const [ins, times] of byIns) report(`${prefix}.apdu_time_by_ins.${ins}`, median(times), 'ms');
}

export async function run(report: Report): Promise<void> {
  const pcscdBefore = findPcscd().length > 0;
  let bed: Testbed | undefined;
  let pcsc: DeskUnderTest | undefined;
  let training: DeskUnderTest | undefined;
  try {
    bed = await useTestbed('desk-bench');
    pcsc = await desk('pcsc', bed);
    const overPcsc = await measure(pcsc);
    training = await desk('training', undefined);
    const inProcess = await measure(training);
    report('desk.runs', overPcsc.runs.length, 'runs');
    reportRuns(report, 'desk.pcsc', overPcsc);
    reportRuns(report, 'desk.in_process', inProcess);
    report(
      'desk.pcsc_vs_in_process',
      median(overPcsc.runs.map((r) => r.totalMs)) / median(inProcess.runs.map((r) => r.totalMs)),
      'x',
    );
  } finally {
    await pcsc?.dispose();
    await training?.dispose();
    await bed?.close(); // removes every card process it started
    if (!pcscdBefore) await stopPcscd();
  }
}
