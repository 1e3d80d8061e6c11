import { useCallback, useEffect, useRef, useState } from 'react';
import type { ReaderSnapshot } from '../../../shared/contract';
import type {
  CardInspectionInfo,
  CustomerChoiceInfo,
  EnrollmentResultInfo,
  EnrollmentStepName,
} from '../../../shared/contract/enrollment.contract';
import { call, CallError, useAction, useCall, useEvent } from '../../api/client';
import { ErrorBanner, Field, Form } from '../../ui/forms';
import { TrainingDrawer } from './TrainingDrawer';

// The enrollment wizard: customer → reader with the blank card → confirm → progress → result.
// The operator always names the reader; nothing is guessed when two readers hold cards. K never
// reaches this page: the result shows N, and the mailer (with K) is a manager's job.

type Step = 'customer' | 'card' | 'confirm' | 'working' | 'result';
const STEPS: { id: Step; label: string }[] = [
  { id: 'customer', label: 'Customer' },
  { id: 'card', label: 'Card' },
  { id: 'confirm', label: 'Confirm' },
  { id: 'working', label: 'Personalise' },
  { id: 'result', label: 'Done' },
];

const PROGRESS: Record<EnrollmentStepName, { value: number; text: string }> = {
  reading: { value: 1, text: 'Reading the card…' },
  binding: { value: 2, text: 'Binding the card to the customer…' },
  checking: { value: 3, text: 'Checking the card holds its key…' },
  personalising: { value: 3, text: 'Personalising the card (do not remove it)…' },
  finishing: { value: 4, text: 'Saving the enrollment…' },
  done: { value: 5, text: 'Done.' },
};

export function EnrollPage() {
  const [step, setStep] = useState<Step>('customer');
  const [customer, setCustomer] = useState<CustomerChoiceInfo | null>(null);
  const [reader, setReader] = useState<string | null>(null);
  const [inspection, setInspection] = useState<CardInspectionInfo | null>(null);
  const [result, setResult] = useState<EnrollmentResultInfo | null>(null);
  const readers = useReaderSnapshot();
  const restart = () => {
    setStep('customer');
    setCustomer(null);
    setReader(null);
    setInspection(null);
    setResult(null);
  };

  return (
    <section className="page" aria-labelledby="enroll-heading">
      <h1 id="enroll-heading">Enroll a card</h1>
      <ol className="toolbar" aria-label="Enrollment steps">
        {STEPS.map((s) => (
          <li key={s.id} aria-current={s.id === step ? 'step' : undefined}>
            {s.id === step ? <strong>{s.label}</strong> : <span className="muted">{s.label}</span>}
          </li>
        ))}
      </ol>
      {readers?.service === 'training' ? <TrainingDrawer /> : null}
      {step === 'customer' ? (
        <CustomerStep
          onChosen={(c) => {
            setCustomer(c);
            setStep('card');
          }}
        />
      ) : null}
      {step === 'card' && customer ? (
        <CardStep
          readers={readers}
          chosen={reader}
          onBack={() => setStep('customer')}
          onChosen={(r, i) => {
            setReader(r);
            setInspection(i);
            setStep('confirm');
          }}
        />
      ) : null}
      {step === 'confirm' && customer && reader && inspection ? (
        <ConfirmStep
          customer={customer}
          inspection={inspection}
          onBack={() => setStep('card')}
          onConfirm={() => setStep('working')}
        />
      ) : null}
      {step === 'working' && customer && reader && inspection ? (
        <WorkingStep
          customerId={customer.id}
          reader={reader}
          cardId={inspection.cardId}
          finishPending={inspection.verdict === 'pending'}
          onDone={(r) => {
            setResult(r);
            setStep('result');
          }}
          onBack={() => setStep('card')}
        />
      ) : null}
      {step === 'result' && result && customer ? (
        <ResultStep result={result} customer={customer} onAgain={restart} />
      ) : null}
    </section>
  );
}

/** Readers as main reports them: the current snapshot, then every change pushed by main. */
export function useReaderSnapshot(): ReaderSnapshot | null {
  const initial = useCall('reader:status', {});
  const [pushed, setPushed] = useState<ReaderSnapshot | null>(null);
  useEvent('reader:changed', setPushed);
  return pushed ?? initial.data ?? null;
}

/** A step's heading; keyboard and screen-reader users land on it when the step opens. */
function StepHeading({ id, children }: { id: string; children: React.ReactNode }) {
  const ref = useRef<HTMLHeadingElement>(null);
  useEffect(() => ref.current?.focus(), []);
  return (
    <h2 id={id} tabIndex={-1} ref={ref}>
      {children}
    </h2>
  );
}

function CustomerStep({ onChosen }: { onChosen: (c: CustomerChoiceInfo) => void }) {
  const [query, setQuery] = useState('');
  const [results, setResults] = useState<CustomerChoiceInfo[] | null>(null);
  const [error, setError] = useState<CallError | null>(null);
  const search = () => {
    setError(null);
    call('enrollment:findCustomers', { query })
      .then(setResults)
      .catch((e: unknown) => setError(e instanceof CallError ? e : null));
  };
  return (
    <section aria-labelledby="step-customer">
      <StepHeading id="step-customer">1. Choose the customer</StepHeading>
      <Form label="Find customer" onSubmit={search}>
        <Field
          label="Customer name or reference"
          value={query}
          autoFocus
          autoComplete="off"
          onChange={(e) => setQuery(e.target.value)}
          error={error?.error.fields?.['query']}
          hint="At least 2 characters. Create new customers on the customer page."
        />
        <button type="submit" className="primary">
          Search
        </button>
      </Form>
      <ErrorBanner error={error?.error.fields ? null : error} />
      {results === null ? null : results.length === 0 ? (
        <div className="empty-state">No customer matches “{query}”. Check the spelling or search by reference.</div>
      ) : (
        <table className="grid" aria-label="Matching customers">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Reference</th>
              <th scope="col">Born</th>
              <th scope="col">City</th>
              <th scope="col">Cards</th>
              <th scope="col">
                <span className="muted">Action</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {results.map((c) => (
              <tr key={c.id}>
                <td>{c.fullName}</td>
                <td className="mono">{c.customerRef ?? '—'}</td>
                <td>{c.birthDate ?? '—'}</td>
                <td>{c.city}</td>
                <td>{c.cards}</td>
                <td>
                  <button type="button" onClick={() => onChosen(c)} aria-label={`Choose ${c.fullName}`}>
                    Choose
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function CardStep(props: {
  readers: ReaderSnapshot | null;
  chosen: string | null;
  onBack: () => void;
  onChosen: (reader: string, inspection: CardInspectionInfo) => void;
}) {
  const withCard = props.readers?.readers.filter((r) => r.cardPresent) ?? [];
  const [picked, setPicked] = useState<string | null>(props.chosen);
  const [error, setError] = useState<CallError | null>(null);
  const [checking, setChecking] = useState(false);
  // A pick whose card was taken out is no pick.
  const current = picked && withCard.some((r) => r.name === picked) ? picked : null;
  const next = () => {
    if (!current) return;
    setChecking(true);
    setError(null);
    call('enrollment:status', { reader: current })
      .then((i) => props.onChosen(current, i))
      .catch((e: unknown) => setError(e instanceof CallError ? e : null))
      .finally(() => setChecking(false));
  };
  return (
    <section aria-labelledby="step-card">
      <StepHeading id="step-card">2. Choose the reader with the blank card</StepHeading>
      {!props.readers ? (
        <div className="empty-state">Waiting for the reader service…</div>
      ) : withCard.length === 0 ? (
        <div className="empty-state" role="status">
          {props.readers.readers.length === 0
            ? (props.readers.message ?? 'No reader connected. Plug in a reader.')
            : 'No card in any reader. Insert a blank card from stock; it appears here.'}
        </div>
      ) : (
        <Form label="Choose reader" onSubmit={next}>
          <fieldset>
            <legend>Readers with a card</legend>
            {withCard.map((r) => (
              <div key={r.name} className="form-row">
                <input
                  type="radio"
                  id={`reader-${r.name}`}
                  name="reader"
                  value={r.name}
                  checked={current === r.name}
                  onChange={() => setPicked(r.name)}
                />
                <label htmlFor={`reader-${r.name}`}>
                  {r.name} —{' '}
                  {r.card
                    ? `card ${r.card.cardId.toUpperCase()}, ${r.card.lifeCycle}`
                    : (r.error ?? 'reading the card…')}
                </label>
              </div>
            ))}
          </fieldset>
          <div className="actions">
            <button type="button" onClick={props.onBack}>
              Back
            </button>
            <button type="submit" className="primary" disabled={!current || checking}>
              {checking ? 'Reading the card…' : 'Next'}
            </button>
          </div>
        </Form>
      )}
      {withCard.length === 0 ? (
        <div className="actions">
          <button type="button" onClick={props.onBack}>
            Back
          </button>
        </div>
      ) : null}
      <ErrorBanner error={error} />
    </section>
  );
}

function ConfirmStep(props: {
  customer: CustomerChoiceInfo;
  inspection: CardInspectionInfo;
  onBack: () => void;
  onConfirm: () => void;
}) {
  const { customer, inspection } = props;
  const usable = inspection.verdict === 'blank' || inspection.verdict === 'pending';
  return (
    <section aria-labelledby="step-confirm">
      <StepHeading id="step-confirm">3. Confirm</StepHeading>
      <dl className="details">
        <dt>Customer</dt>
        <dd>
          {customer.fullName} {customer.customerRef ? `(${customer.customerRef})` : ''}
        </dd>
        <dt>Reader</dt>
        <dd>{inspection.reader}</dd>
        <dt>Card id</dt>
        <dd className="mono">{inspection.cardId ?? '—'}</dd>
      </dl>
      <div className={usable ? 'banner banner-warning' : 'banner banner-error'} role="status">
        {inspection.message}
        {usable
          ? ' Personalising writes the card key for good: check the customer, and leave the card in the reader until it is done.'
          : ''}
      </div>
      <div className="actions">
        <button type="button" onClick={props.onBack}>
          Back
        </button>
        {usable ? (
          <button type="button" className="primary" onClick={props.onConfirm}>
            {inspection.verdict === 'pending' ? 'Finish enrollment' : 'Enroll card'}
          </button>
        ) : null}
      </div>
    </section>
  );
}

function WorkingStep(props: {
  customerId: number;
  reader: string;
  /** The card the operator confirmed; main refuses another one found in the reader. */
  cardId: string | null;
  finishPending: boolean;
  onDone: (r: EnrollmentResultInfo) => void;
  onBack: () => void;
}) {
  const [progress, setProgress] = useState<EnrollmentStepName | null>(null);
  useEvent(
    'enrollment:progress',
    useCallback((p: { reader: string; step: EnrollmentStepName }) => setProgress(p.step), []),
  );
  const { onDone } = props;
  const enroll = useAction('enrollment:enroll', { onSuccess: onDone });
  const retry = useAction('enrollment:retry', { onSuccess: onDone });
  const started = useRef(false);
  const run = useCallback(
    (pending: boolean) => {
      setProgress(null);
      const card = props.cardId ? { cardId: props.cardId } : {};
      if (pending) retry.mutate({ reader: props.reader, ...card });
      else enroll.mutate({ customerId: props.customerId, reader: props.reader, ...card });
    },
    [enroll, retry, props.reader, props.customerId, props.cardId],
  );
  useEffect(() => {
    if (started.current) return;
    started.current = true;
    run(props.finishPending);
  }, [run, props.finishPending]);
  const [checkError, setCheckError] = useState<CallError | null>(null);
  // The card decides: an unfinished enrollment is finished, a blank card with nothing bound is enrolled afresh.
  const retryWithCard = () => {
    setCheckError(null);
    enroll.reset();
    retry.reset();
    call('enrollment:status', { reader: props.reader })
      .then((i) => {
        if (i.verdict === 'pending' || i.verdict === 'blank') run(i.verdict === 'pending');
        else setCheckError(new CallError({ code: 'ENROLLMENT_CARD_CHANGED', message: i.message }));
      })
      .catch((e: unknown) => setCheckError(e instanceof CallError ? e : null));
  };
  const error = checkError ?? enroll.error ?? retry.error;
  const busy = enroll.isPending || retry.isPending;
  const p = progress ? PROGRESS[progress] : { value: 0, text: 'Starting…' };
  return (
    <section aria-labelledby="step-working">
      <StepHeading id="step-working">4. Personalising</StepHeading>
      <progress max={5} value={p.value} aria-label="Enrollment progress" />
      <p role="status" aria-live="polite">
        {busy || !error ? p.text : 'Stopped.'}
      </p>
      <ErrorBanner error={error} />
      {error && !busy ? (
        <div className="actions">
          <button type="button" onClick={props.onBack}>
            Back to readers
          </button>
          <button type="button" className="primary" onClick={retryWithCard}>
            Retry with the same card
          </button>
        </div>
      ) : null}
    </section>
  );
}

function ResultStep(props: { result: EnrollmentResultInfo; customer: CustomerChoiceInfo; onAgain: () => void }) {
  const { result } = props;
  return (
    <section aria-labelledby="step-result">
      <StepHeading id="step-result">5. Card enrolled</StepHeading>
      <div className="banner banner-ok" role="status">
        The card is personalised for {props.customer.fullName} and awaits activation.
      </div>
      <dl className="details">
        <dt>Identification code N</dt>
        <dd className="mono" data-testid="enrolled-n">
          {result.nFormatted}
        </dd>
        <dt>Card id</dt>
        <dd className="mono">{result.cardId}</dd>
      </dl>
      <p>
        Give the card to the customer. The mailer with the activation key will be printed by a manager; the customer
        activates the card with it.
      </p>
      <div className="actions">
        <button type="button" className="primary" onClick={props.onAgain}>
          Enroll another card
        </button>
      </div>
    </section>
  );
}
