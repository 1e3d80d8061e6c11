import { useState } from 'react';
import type { SupportCaseView } from '../../../shared/contract/support.contract';
import { useAction } from '../../api/client';
import { ConfirmDialog } from '../../ui/dialogs';
import { ErrorBanner, Field, Form, SelectField, fieldError } from '../../ui/forms';
import { REASON_LABELS } from './support-labels';

// Step 1: the report. It blocks the card at once (after a confirmation, since it cannot be undone at
// the desk): the card's codes are refused from that moment and its lists withdrawn.

type Reason = SupportCaseView['reason'];

export function ReportForm(props: {
  initialN: string;
  initialReason: Reason | null;
  suspicionId: number | null;
  onOpened: (caseId: number, created: boolean) => void;
}) {
  const [n, setN] = useState(props.initialN);
  const [reason, setReason] = useState<Reason>(props.initialReason ?? 'lost');
  const [note, setNote] = useState('');
  const [confirm, setConfirm] = useState(false);
  const report = useAction('support:report', {
    onSuccess: (r) => props.onOpened(r.case.id, r.created),
  });
  return (
    <section aria-label="Report a card">
      <h2>Report a card</h2>
      <Form label="Report a card" onSubmit={() => setConfirm(true)}>
        <ErrorBanner error={report.error} />
        <Field
          label="Card identification code N"
          name="n"
          autoFocus={props.initialN === ''}
          autoComplete="off"
          value={n}
          onChange={(e) => setN(e.target.value)}
          error={fieldError(report.error, 'n')}
          required
        />
        <SelectField label="Reason" value={reason} options={REASON_LABELS} onChange={setReason} />
        <Field
          label="Note (optional)"
          name="note"
          autoComplete="off"
          maxLength={500}
          value={note}
          onChange={(e) => setNote(e.target.value)}
          hint="What the customer said: where and when the card went missing. No codes, PINs or passkeys."
        />
        {props.suspicionId !== null ? (
          <p className="muted">From suspicion event #{props.suspicionId} of this card.</p>
        ) : null}
        <div className="actions">
          <button type="submit" className="danger" autoFocus={props.initialN !== ''} disabled={report.isPending}>
            Report and block the card
          </button>
        </div>
      </Form>
      <ConfirmDialog
        open={confirm}
        title={`Block card ${n.trim()}?`}
        body="The card is blocked at once: every code from it is refused from now on and its lists are withdrawn. The customer gets a new card after proving who they are."
        confirmLabel="Block the card"
        danger
        onConfirm={() =>
          report.mutate({
            n: n.trim(),
            reason,
            ...(props.suspicionId !== null ? { suspicionId: props.suspicionId } : {}),
            ...(note.trim() ? { note: note.trim() } : {}),
          })
        }
        onClose={() => setConfirm(false)}
      />
    </section>
  );
}
