import type { SessionInfo } from '../../../shared/contract/auth.contract';
import type { SupportCaseView } from '../../../shared/contract/support.contract';
import { useCall } from '../../api/client';
import { ErrorBanner } from '../../ui/forms';
import { EnterPasskeyStep, LockedStep, SendPasskeyStep } from './PasskeySteps';
import { ReissueStep } from './ReissueStep';
import { REASON_LABELS, when } from './support-labels';

// One case, continued where it stands: the step comes from the case's state in the database, so the
// wizard resumes after a restart. While a passkey awaits, the case is re-read every few seconds so a
// claim-3 e-mail from the customer shows as soon as it arrives.

const STEPS: { key: SupportCaseView['step'] | 'report'; label: string }[] = [
  { key: 'report', label: 'Report' },
  { key: 'send', label: 'Send passkey' },
  { key: 'enter', label: 'Enter passkey' },
  { key: 'reissue', label: 'Reissue' },
  { key: 'done', label: 'Done' },
];

export function CaseWizard(props: {
  caseId: number;
  session: SessionInfo;
  missing: readonly string[];
  onClose: () => void;
}) {
  // Re-read only while a passkey awaits: that is when a claim-3 e-mail can move the case.
  const got = useCall(
    'support:case',
    { caseId: props.caseId },
    { refetchInterval: (q) => (q.state.data?.step === 'enter' ? 3000 : false) },
  );
  const c = got.data;
  return (
    <section aria-label={`Case ${props.caseId}`} data-testid="case-wizard">
      <h2>
        Case {props.caseId}
        {c ? ` — ${c.customerName}, card ${c.n}` : ''}
      </h2>
      <ErrorBanner error={got.error} />
      {c ? (
        <>
          <p className="muted">
            {REASON_LABELS[c.reason]}, reported {when(c.openedAt)} by {c.openedBy}. The card is {c.cardState}.
            {c.note ? ` Note: ${c.note}` : ''}
          </p>
          <Stepper current={c.step} />
          <CaseStep c={c} session={props.session} missing={props.missing} onDone={props.onClose} />
        </>
      ) : null}
      <div className="actions">
        <button type="button" onClick={props.onClose}>
          Back to the cases
        </button>
      </div>
    </section>
  );
}

function Stepper({ current }: { current: SupportCaseView['step'] }) {
  const at = current === 'locked' ? 'enter' : current;
  const index = STEPS.findIndex((s) => s.key === at);
  return (
    <ol className="steps" aria-label="Steps">
      {STEPS.map((s, i) => (
        <li key={s.key} aria-current={i === index ? 'step' : undefined} className={i < index ? 'done' : undefined}>
          {s.label}
          {i < index ? ' ✓' : ''}
        </li>
      ))}
    </ol>
  );
}

function CaseStep(props: { c: SupportCaseView; session: SessionInfo; missing: readonly string[]; onDone: () => void }) {
  const { c } = props;
  switch (c.step) {
    case 'send':
      return (
        <>
          {c.identity ? (
            <div className="banner banner-ok" role="status">
              Identity checked in person ({c.identity.documentType.replace('_', ' ')}) by {c.identity.checkedBy},
              approved by {c.identity.approvedBy}. Send a new passkey.
            </div>
          ) : null}
          <SendPasskeyStep c={c} missing={props.missing} />
        </>
      );
    case 'enter':
      return <EnterPasskeyStep c={c} />;
    case 'locked':
      return <LockedStep c={c} session={props.session} />;
    case 'reissue':
      return (
        <>
          <div className="banner banner-ok" role="status" data-testid="case-verified">
            Identity verified {c.verifiedVia === 'email_reply' ? 'by the customer’s e-mail' : 'at the desk'} at{' '}
            {when(c.verifiedAt)}.
          </div>
          <ReissueStep caseId={c.id} session={props.session} onDone={props.onDone} />
        </>
      );
    case 'done':
      // The same shape as the reissue step, so the step stays mounted when the case turns reissued:
      // its result (the new N) stays on screen, and a manager can still print the emergency sheet.
      return (
        <>
          <div className="banner banner-ok" role="status">
            Reissued {when(c.reissuedAt)}: new card {c.newCardN ?? '—'}. The old card stays blocked.
          </div>
          <ReissueStep caseId={c.id} session={props.session} onDone={props.onDone} />
        </>
      );
  }
}
