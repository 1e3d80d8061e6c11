import { useCallback, useState } from 'react';
import { useQueryClient } from '@tanstack/react-query';
import type { Approval } from '../../../shared/contract/approval.contract';
import type { EventPayload } from '../../../shared/contract';
import type { MailerBatchItemView, MailerQueueEntryView } from '../../../shared/contract/mailer.contract';
import { call, CallError, useCall, useEvent } from '../../api/client';
import { ApprovalDialog, ConfirmDialog, FormActions, Modal } from '../../ui/dialogs';
import { ErrorBanner, Field, Form } from '../../ui/forms';
import { Pager, SortableHeader } from '../../ui/table';

type Intent =
  | { kind: 'print'; entry: MailerQueueEntryView }
  | { kind: 'batch'; count: number; olderToo: boolean }
  | { kind: 'reprint'; entry: MailerQueueEntryView; reason: string };

type Column = 'customerName' | 'n' | 'enrolledAt' | 'mailer';
const PAGE_SIZE = 20;
const STATUS_LABEL: Record<MailerQueueEntryView['mailer'], string> = {
  'to-print': 'waiting for its mailer',
  printed: 'printed',
  uncertain: 'may be partly printed: reprint',
  printing: 'printing…',
};

const describe = (i: Intent): string =>
  i.kind === 'batch'
    ? `Print ${i.count} mailer${i.count === 1 ? '' : 's'}`
    : `${i.kind === 'print' ? 'Print' : 'Reprint'} the mailer of ${i.entry.n} (${i.entry.customerName})`;

/** Approval refusals keep the approval dialog open for another try; anything else closes it. */
const isApprovalError = (e: CallError) => e.code.startsWith('APPROVAL_') || e.code.startsWith('APPROVER_');

/**
 * Cards waiting for their mailer: print one, print the day's batch with progress and a result per
 * mailer, reprint with a reason. Every print is confirmed, then approved by a second operator.
 */
export function MailerQueue() {
  const qc = useQueryClient();
  const queue = useCall('mailer:queue', {});
  const [sort, setSort] = useState<Column>('enrolledAt');
  const [desc, setDesc] = useState(false);
  const [page, setPage] = useState(1);
  const [confirming, setConfirming] = useState<Intent | null>(null);
  const [reprinting, setReprinting] = useState<MailerQueueEntryView | null>(null);
  const [approving, setApproving] = useState<Intent | null>(null);
  const [approvalError, setApprovalError] = useState<CallError | null>(null);
  const [error, setError] = useState<CallError | null>(null);
  const [pending, setPending] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);
  const [progress, setProgress] = useState<EventPayload<'mailer:progress'> | null>(null);
  const [results, setResults] = useState<MailerBatchItemView[] | null>(null);
  // The day's batch is today's enrollments; older waiting cards only when the manager says so.
  const [olderToo, setOlderToo] = useState(false);

  useEvent(
    'mailer:progress',
    useCallback((p: EventPayload<'mailer:progress'>) => setProgress(p), []),
  );

  const entries = queue.data?.entries ?? [];
  const counts = queue.data?.batch ?? { today: 0, older: 0 };
  const batchCount = counts.today + (olderToo ? counts.older : 0);
  const sorted = [...entries].sort((a, b) => {
    const c = String(a[sort]).localeCompare(String(b[sort]));
    return desc ? -c : c;
  });
  const pages = Math.max(1, Math.ceil(sorted.length / PAGE_SIZE));
  const shown = sorted.slice((page - 1) * PAGE_SIZE, page * PAGE_SIZE);

  async function run(intent: Intent, approval: Approval) {
    setPending(true);
    setApprovalError(null);
    setError(null);
    setNotice(null);
    if (intent.kind === 'batch') {
      setResults(null);
      setProgress({ batch: '', done: 0, total: intent.count });
    }
    try {
      if (intent.kind === 'print') {
        const out = await call('mailer:print', { cardRef: intent.entry.cardRef, approval });
        setNotice(`Mailer ${out.serial} for ${out.n} sent to ${out.destination}.`);
      } else if (intent.kind === 'reprint') {
        const out = await call('mailer:reprint', { cardRef: intent.entry.cardRef, reason: intent.reason, approval });
        setNotice(
          `Mailer ${out.serial} for ${out.n} (key series ${out.keySn}) sent to ${out.destination}. ` +
            'The old mailer stops working once the card takes its new key at its next presentation.',
        );
      } else {
        const out = await call('mailer:printBatch', { approval, olderToo: intent.olderToo });
        setResults(out.results);
        setNotice(`Batch ${out.batch}: ${out.printed} of ${out.total} mailers printed.`);
      }
      setApproving(null);
    } catch (err) {
      if (!(err instanceof CallError)) throw err;
      if (isApprovalError(err)) setApprovalError(err);
      else {
        setApproving(null);
        setError(err);
      }
      if (intent.kind === 'batch') setProgress(null);
    } finally {
      setPending(false);
      void qc.invalidateQueries();
    }
  }

  const header = (label: string, column: Column) => (
    <SortableHeader
      label={label}
      column={column}
      sort={sort}
      desc={desc}
      onSort={(c, d) => {
        setSort(c);
        setDesc(d);
        setPage(1);
      }}
    />
  );

  return (
    <section aria-label="Mailer queue">
      <h2>Mailer queue</h2>
      {queue.data ? (
        <p className="muted">
          Mailers go to <strong>{queue.data.destination}</strong>.
          {queue.data.rendererReady ? '' : ' This desk cannot render mailers (no Chromium): print on another desk.'}
        </p>
      ) : null}
      <div className="toolbar">
        <button
          type="button"
          className="primary"
          disabled={batchCount === 0 || pending || !queue.data?.rendererReady}
          onClick={() => setConfirming({ kind: 'batch', count: batchCount, olderToo })}
        >
          Print the day’s batch ({batchCount})
        </button>
        {counts.older > 0 ? (
          <label className="checkbox">
            <input type="checkbox" checked={olderToo} onChange={(e) => setOlderToo(e.target.checked)} />
            Include {counts.older} older waiting card{counts.older === 1 ? '' : 's'}
          </label>
        ) : null}
      </div>
      <ErrorBanner error={queue.error ?? error} />
      {notice ? (
        <div className="banner banner-ok" role="status" data-testid="mailer-notice">
          {notice}
        </div>
      ) : null}
      {progress ? (
        <div className="field" data-testid="batch-progress">
          <label htmlFor="mailer-batch-progress">
            Batch: {progress.done} of {progress.total} mailers
          </label>
          <progress id="mailer-batch-progress" max={Math.max(1, progress.total)} value={progress.done} />
        </div>
      ) : null}
      {results ? (
        <table className="grid" aria-label="Batch results">
          <thead>
            <tr>
              <th>N</th>
              <th>Customer</th>
              <th>Serial</th>
              <th>Result</th>
            </tr>
          </thead>
          <tbody>
            {results.map((r) => (
              <tr key={r.cardRef}>
                <td>{r.n}</td>
                <td>{r.customerName}</td>
                <td>{r.serial ?? ''}</td>
                <td>
                  {r.result}
                  {r.message ? <div className="muted">{r.message}</div> : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}

      {queue.data && entries.length === 0 ? (
        <div className="empty-state">No card is awaiting activation. Enrolled cards appear here for their mailer.</div>
      ) : null}
      {shown.length > 0 ? (
        <>
          <table className="grid" aria-label="Cards and their mailers">
            <thead>
              <tr>
                {header('Customer', 'customerName')}
                {header('N', 'n')}
                <th>Card</th>
                {header('Enrolled (UTC)', 'enrolledAt')}
                {header('Mailer', 'mailer')}
                <th>Last serial</th>
                <th>Actions</th>
              </tr>
            </thead>
            <tbody>
              {shown.map((e) => (
                <tr key={e.cardRef}>
                  <td>{e.customerName}</td>
                  <td>{e.n}</td>
                  <td>
                    {e.cardId}
                    <span className="muted"> ({e.state.replace('_', ' ')})</span>
                  </td>
                  <td>{e.enrolledAt.replace('T', ' ').slice(0, 16)}</td>
                  <td>{STATUS_LABEL[e.mailer]}</td>
                  <td>{e.lastSerial ?? ''}</td>
                  <td>
                    {e.mailer === 'to-print' && e.state === 'awaiting_activation' ? (
                      <button
                        type="button"
                        disabled={pending}
                        aria-label={`Print mailer for ${e.n}`}
                        onClick={() => setConfirming({ kind: 'print', entry: e })}
                      >
                        Print
                      </button>
                    ) : null}
                    {e.mailer === 'printed' || e.mailer === 'uncertain' ? (
                      <button
                        type="button"
                        disabled={pending}
                        aria-label={`Reprint mailer for ${e.n}`}
                        onClick={() => setReprinting(e)}
                      >
                        Reprint…
                      </button>
                    ) : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <Pager page={page} pages={pages} onPage={setPage}>{` (${sorted.length} cards)`}</Pager>
        </>
      ) : null}

      <ConfirmDialog
        open={confirming !== null}
        title={confirming ? `${describe(confirming)}?` : ''}
        body={
          <p>
            A mailer is printed once and holds the cardholder’s key. Make sure the printer is ready and attended; a
            second operator approves next.
          </p>
        }
        confirmLabel="Continue to approval"
        onConfirm={() => {
          setApprovalError(null);
          setApproving(confirming);
        }}
        onClose={() => setConfirming(null)}
      />
      {reprinting ? (
        <ReprintDialog
          entry={reprinting}
          onCancel={() => setReprinting(null)}
          onContinue={(reason) => {
            setApprovalError(null);
            setApproving({ kind: 'reprint', entry: reprinting, reason });
            setReprinting(null);
          }}
        />
      ) : null}
      <ApprovalDialog
        open={approving !== null}
        action={approving ? describe(approving) : ''}
        approves={approving?.kind === 'reprint' ? 'mailer.reprint' : 'mailer.print'}
        pending={pending}
        error={approvalError}
        onApprove={(approval) => {
          if (approving) void run(approving, approval);
        }}
        onClose={() => {
          if (!pending) setApproving(null);
        }}
      />
    </section>
  );
}

/** A reprint is a security event: a reason, and a plain statement of what it does. */
function ReprintDialog(props: {
  entry: MailerQueueEntryView;
  onCancel: () => void;
  onContinue: (reason: string) => void;
}) {
  const [reason, setReason] = useState('');
  const [error, setError] = useState<string | undefined>(undefined);
  return (
    <Modal open onClose={props.onCancel} label="Reprint mailer">
      <h2>Reprint the mailer of {props.entry.n}?</h2>
      <p>
        The card moves to a new key; the new mailer carries it. The old mailer stops working once the card is presented
        at a desk. Destroy the old mailer if it turns up. This is recorded as a security event.
      </p>
      <Form
        label="Reprint reason"
        onSubmit={() => {
          if (reason.trim().length < 5) setError('Say why the mailer is reprinted (at least 5 characters).');
          else props.onContinue(reason.trim());
        }}
      >
        <Field
          label="Reason"
          name="reason"
          autoFocus
          value={reason}
          error={error}
          maxLength={300}
          onChange={(e) => {
            setReason(e.target.value);
            setError(undefined);
          }}
        />
        <FormActions onCancel={props.onCancel} submitLabel="Continue to approval" pending={false} danger />
      </Form>
    </Modal>
  );
}
