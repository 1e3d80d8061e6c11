import { useCallback, useEffect, useRef, useState } from 'react';
import type { SessionInfo } from '../../../shared/contract/auth.contract';
import type { EnrollmentStepName } from '../../../shared/contract/enrollment.contract';
import type { ReissueResultInfo, ReissueStatusInfo } from '../../../shared/contract/reissue.contract';
import { CallError, useAction, useCall, useEvent } from '../../api/client';
import { ApprovalDialog } from '../../ui/dialogs';
import { ErrorBanner, Form } from '../../ui/forms';
import { useReaderSnapshot } from '../enrollment/EnrollPage';

// The support wizard's reissue step (issue 11 item 3; docs/reissue.md): the reader with a blank card,
// a confirmation (the card is personalised for good), progress, and the new card's N with the codes
// carried over. An interrupted reissue shows as such and is finished with the same card. K never
// reaches this page: the new mailer is printed on the Mailer page under dual control.

const REISSUERS: readonly SessionInfo['role'][] = ['support', 'manager'];

const PROGRESS: Record<EnrollmentStepName, { value: number; text: string }> = {
  reading: { value: 1, text: 'Reading the blank card…' },
  binding: { value: 2, text: 'Binding the new card to the customer…' },
  checking: { value: 3, text: 'Checking the card holds its key…' },
  personalising: { value: 3, text: 'Personalising the new card (do not remove it)…' },
  finishing: { value: 4, text: 'Saving the new card, carrying the codes over…' },
  done: { value: 5, text: 'Done.' },
};

export function ReissueStep({ caseId, session, onDone }: { caseId: number; session: SessionInfo; onDone: () => void }) {
  const status = useCall('reissue:status', { caseId });
  const [result, setResult] = useState<ReissueResultInfo | null>(null);
  if (!REISSUERS.includes(session.role)) {
    return (
      <section aria-labelledby="reissue-heading" data-testid="reissue-step">
        <StepHeading id="reissue-heading">Reissue the card</StepHeading>
        <div className="empty-state">Only support staff or a manager reissue cards.</div>
      </section>
    );
  }
  return (
    <section aria-labelledby="reissue-heading" data-testid="reissue-step">
      <StepHeading id="reissue-heading">Reissue the card</StepHeading>
      {status.isPending ? <p role="status">Reading the case…</p> : null}
      <ErrorBanner error={status.error} />
      {result ? (
        <Reissued result={result} onDone={onDone}>
          <EmergencySheet caseId={caseId} session={session} printedAt={null} />
        </Reissued>
      ) : status.data?.state === 'done' ? (
        <AlreadyDone status={status.data} onDone={onDone}>
          <EmergencySheet caseId={caseId} session={session} printedAt={status.data.emergencyPrintedAt} />
        </AlreadyDone>
      ) : status.isSuccess ? (
        <ChooseAndRun caseId={caseId} pending={status.data} onReissued={setResult} />
      ) : null}
    </section>
  );
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

function ChooseAndRun(props: {
  caseId: number;
  pending: ReissueStatusInfo | null;
  onReissued: (r: ReissueResultInfo) => void;
}) {
  const readers = useReaderSnapshot();
  const withCard = readers?.readers.filter((r) => r.cardPresent) ?? [];
  const [picked, setPicked] = useState<string | null>(null);
  const [confirming, setConfirming] = useState(false);
  const [progress, setProgress] = useState<EnrollmentStepName | null>(null);
  useEvent(
    'enrollment:progress',
    useCallback((p: { reader: string; step: EnrollmentStepName }) => setProgress(p.step), []),
  );
  const reissue = useAction('reissue:reissue', { onSuccess: props.onReissued });
  const current = picked && withCard.some((r) => r.name === picked) ? picked : null;
  const run = () => {
    if (!current) return;
    setProgress(null);
    reissue.mutate({ caseId: props.caseId, reader: current });
  };
  const p = progress ? PROGRESS[progress] : { value: 0, text: 'Starting…' };
  const error: CallError | null = reissue.error;

  return (
    <>
      {props.pending ? (
        <div className="banner banner-warning" role="status">
          This reissue was interrupted (the new card {props.pending.newCardId} is{' '}
          {props.pending.state === 'enrolling' ? 'not yet personalised' : 'personalised'}). Put that same card in a
          reader and finish it; no other card can be used for this case.
        </div>
      ) : (
        <p>
          The customer gets a new card with a new identification code N and new keys. The codes left on the old card are
          carried over to the new card&apos;s first list; the old card and its codes are refused from now on.
        </p>
      )}
      {!readers ? (
        <div className="empty-state">Waiting for the reader service…</div>
      ) : withCard.length === 0 ? (
        <div className="empty-state" role="status">
          No card in any reader. Insert {props.pending ? 'the card of this reissue' : 'a blank card from stock'}; it
          appears here.
        </div>
      ) : (
        <Form label="Choose the reader with the new card" onSubmit={() => setConfirming(true)}>
          <fieldset disabled={reissue.isPending}>
            <legend>Readers with a card</legend>
            {withCard.map((r) => (
              <div key={r.name} className="form-row">
                <input
                  type="radio"
                  id={`reissue-reader-${r.name}`}
                  name="reissue-reader"
                  value={r.name}
                  checked={current === r.name}
                  onChange={() => {
                    setPicked(r.name);
                    setConfirming(false);
                  }}
                />
                <label htmlFor={`reissue-reader-${r.name}`}>
                  {r.name} —{' '}
                  {r.card
                    ? `card ${r.card.cardId.toUpperCase()}, ${r.card.lifeCycle}`
                    : (r.error ?? 'reading the card…')}
                </label>
              </div>
            ))}
          </fieldset>
          {!confirming ? (
            <div className="actions">
              <button type="submit" className="primary" disabled={!current || reissue.isPending}>
                Next
              </button>
            </div>
          ) : null}
        </Form>
      )}
      {confirming && current && !reissue.isPending && !reissue.isSuccess ? (
        <div role="group" aria-label="Confirm the reissue">
          <div className="banner banner-warning" role="status">
            The card in {current} becomes the customer&apos;s new card: it is personalised for good. Leave it in the
            reader until it is done.
          </div>
          <div className="actions">
            <button type="button" onClick={() => setConfirming(false)}>
              Back
            </button>
            <button type="button" className="primary" onClick={run} autoFocus>
              {props.pending ? 'Finish the reissue' : 'Reissue onto this card'}
            </button>
          </div>
        </div>
      ) : null}
      {reissue.isPending ? (
        <>
          <progress max={5} value={p.value} aria-label="Reissue progress" />
          <p role="status" aria-live="polite">
            {p.text}
          </p>
        </>
      ) : null}
      <ErrorBanner error={error} />
    </>
  );
}

function Reissued({
  result,
  onDone,
  children,
}: {
  result: ReissueResultInfo;
  onDone: () => void;
  children: React.ReactNode;
}) {
  return (
    <>
      <div className="banner banner-ok" role="status">
        The new card is personalised and awaits activation.{' '}
        {result.carriedCodes > 0
          ? `${result.carriedCodes} codes from the old card are carried over to its first list.`
          : 'The old card had no codes left: the new card gets an ordinary first list at activation.'}
      </div>
      <dl className="details">
        <dt>New identification code N</dt>
        <dd className="mono" data-testid="reissued-n">
          {result.newNFormatted}
        </dd>
        <dt>Card id</dt>
        <dd className="mono">{result.newCardId}</dd>
        <dt>Old N (refused from now on)</dt>
        <dd className="mono">{result.oldN}</dd>
      </dl>
      <p>
        Give the card to the customer or post it. A manager prints its K/N mailer on the Mailer page, with a second
        approver; the customer activates the card with it.
      </p>
      {children}
      <div className="actions">
        <button type="button" className="primary" onClick={onDone} autoFocus>
          Done
        </button>
      </div>
    </>
  );
}

function AlreadyDone({
  status,
  onDone,
  children,
}: {
  status: ReissueStatusInfo;
  onDone: () => void;
  children: React.ReactNode;
}) {
  return (
    <>
      <div className="banner banner-ok" role="status">
        This case was reissued: the new card has N <span className="mono">{status.newN ?? '—'}</span>
        {status.carriedCodes > 0 ? `, with ${status.carriedCodes} codes carried over` : ''}.
        {status.oldCardTerminated ? ' The old card was terminated at a desk.' : ''}
      </div>
      {children}
      <div className="actions">
        <button type="button" className="primary" onClick={onDone}>
          Done
        </button>
      </div>
    </>
  );
}

/**
 * The emergency code sheet for the time the card is in the post (docs/reissue.md "Temporary access"):
 * a manager prints it with a second approver; its codes go to the printer only, never to this page.
 */
function EmergencySheet(props: { caseId: number; session: SessionInfo; printedAt: string | null }) {
  const [approving, setApproving] = useState(false);
  const print = useAction('reissue:printEmergencySheet', { onSuccess: () => setApproving(false) });
  const done = print.data;
  if (props.printedAt || done) {
    return (
      <div className="banner banner-ok" role="status">
        The emergency code sheet was printed
        {done ? ` (${done.length} codes, valid until ${done.expiresAt.slice(0, 10)}, sent to ${done.destination})` : ''}
        . Its codes work with the new N until the new card is activated.
      </div>
    );
  }
  if (props.session.role !== 'manager') {
    return (
      <p className="muted">
        If the customer needs to sign in before the card arrives, a manager can print an emergency code sheet for this
        case.
      </p>
    );
  }
  return (
    <section aria-labelledby="emergency-heading">
      <h3 id="emergency-heading">Emergency codes while the card is in the post</h3>
      <p>
        A short sheet of codes for the new N, printed once with a second approver. Its codes stop working when the new
        card is activated.
      </p>
      <button type="button" onClick={() => setApproving(true)}>
        Print emergency sheet…
      </button>
      <ApprovalDialog
        open={approving}
        action="Print the emergency code sheet"
        approves="mailer.print"
        pending={print.isPending}
        error={print.error}
        onApprove={(approval) => print.mutate({ caseId: props.caseId, approval })}
        onClose={() => setApproving(false)}
      />
      <ErrorBanner error={approving ? null : print.error} />
    </section>
  );
}
