import { useEffect, useRef, useState } from 'react';
import type { SessionInfo } from '../../../shared/contract/auth.contract';
import type { CounterComparison, SuspicionSummary } from '../../../shared/contract/clone.contract';
import { mayOpen } from '../../../shared/roles';
import { useAction, useCall } from '../../api/client';
import { ConfirmDialog } from '../../ui/dialogs';
import { ErrorBanner } from '../../ui/forms';

// Clone detection on the card page (source 003; docs/clone-detection.md): with the card in the
// reader, its R-MACed use counters are compared with the server's at once; a server ahead of the
// card is a probable clone, shown with the drift, and the manager or support can withdraw the table
// on the spot. Below, the card's suspicion events.

const KIND_LABELS: Record<SuspicionSummary['kind'], string> = {
  code_replayed: 'A used code presented again',
  disabled_table_used: 'A code of a disabled table presented',
  blocked_card_used: 'A code of a blocked or terminated card presented',
  counter_drift: 'Server ahead of the card',
};
const RESOLUTION_LABELS: Record<NonNullable<SuspicionSummary['resolution']>, string> = {
  table_disabled: 'table disabled',
  card_reported: 'card reported',
  dismissed: 'dismissed',
};

export function CloneCheck({ reader, n, session }: { reader: string; n: string; session: SessionInfo }) {
  const compare = useAction('clone:compareCounters');
  const suspicions = useCall('clone:suspicions', { n });
  const { refetch } = suspicions;
  const [confirm, setConfirm] = useState(false);
  const disable = useAction('clone:disableTable', { onSuccess: () => void refetch() });
  const mayDisable = session.role === 'manager' || session.role === 'support';
  const mayReport = mayOpen(session.role, 'support');
  // Once per presentation of the card (the card view is keyed by the card): the comparison is the
  // point of having the card at the desk.
  const asked = useRef(false);
  const { mutate } = compare;
  useEffect(() => {
    if (asked.current) return;
    asked.current = true;
    // The reader monitor (or a push) may hold the card for a moment: a busy card is asked again
    // a few times before the page shows the error.
    let tries = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const run = () =>
      mutate(
        { reader },
        {
          onSettled: () => void refetch(),
          onError: (e) => {
            if (e.code === 'CARD_BUSY' && ++tries < 4) timer = setTimeout(run, 400);
          },
        },
      );
    run();
    return () => clearTimeout(timer);
  }, [mutate, reader, refetch]);
  const result = compare.data;
  const seq = result?.listSeq ?? null;
  return (
    <section aria-label="Clone check">
      <h2>Clone check</h2>
      <p className="muted">
        The card’s own count of codes given out (read under secure messaging) against the codes the bank accepted.
      </p>
      {compare.isPending ? (
        <p role="status" className="muted">
          Reading the card’s counters…
        </p>
      ) : null}
      <ErrorBanner error={compare.error} />
      {result ? <Verdict result={result} /> : null}
      {result && result.verdict !== 'not_comparable' ? (
        <table className="grid" aria-label="Use counters">
          <tbody>
            <tr>
              <th scope="row">Table</th>
              <td>{result.listSeq}</td>
            </tr>
            <tr>
              <th scope="row">Codes given out by the card</th>
              <td data-testid="clone-card-used">{result.cardUsed}</td>
            </tr>
            <tr>
              <th scope="row">Codes accepted by the bank</th>
              <td data-testid="clone-server-used">{result.serverUsed}</td>
            </tr>
            <tr>
              <th scope="row">Drift (bank − card)</th>
              <td data-testid="clone-drift">{formatDrift(result.drift ?? 0)}</td>
            </tr>
          </tbody>
        </table>
      ) : null}
      <div className="actions">
        <button type="button" disabled={compare.isPending} onClick={() => mutate({ reader })}>
          Compare again
        </button>
        {mayDisable && result?.verdict === 'probable_clone' && result.listState === 'active' && !disable.isSuccess ? (
          <button type="button" className="danger" disabled={disable.isPending} onClick={() => setConfirm(true)}>
            Disable table {seq}
          </button>
        ) : null}
      </div>
      {disable.isSuccess ? (
        <div className="banner banner-ok" role="status" data-testid="clone-disabled">
          Table {disable.data.seq} is disabled: its codes are refused from now on ({disable.data.resolved} suspicion
          {disable.data.resolved === 1 ? '' : 's'} resolved). The cardholder needs a replacement card.
        </div>
      ) : null}
      <ErrorBanner error={disable.error} />
      <ConfirmDialog
        open={confirm}
        title={`Disable table ${seq ?? ''}?`}
        body="Every code of this table is refused from now on, on this card and on any copy of it. The cardholder cannot use codes until a replacement card or list is issued."
        confirmLabel="Disable table"
        danger
        onConfirm={() => {
          if (seq !== null) disable.mutate({ n, seq });
        }}
        onClose={() => setConfirm(false)}
      />
      <h3>Suspicion events</h3>
      <ErrorBanner error={suspicions.error} />
      {suspicions.data && suspicions.data.events.length === 0 ? (
        <p className="empty-state">No suspicion events for this card.</p>
      ) : null}
      {suspicions.data && suspicions.data.events.length > 0 ? (
        <table className="grid" aria-label="Suspicion events" data-testid="suspicion-events">
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">What</th>
              <th scope="col">Table</th>
              <th scope="col">Detail</th>
              <th scope="col">From</th>
              <th scope="col">Settled</th>
              {mayReport ? <th scope="col">Support</th> : null}
            </tr>
          </thead>
          <tbody>
            {suspicions.data.events.map((e) => (
              <tr key={e.id}>
                <td>{new Date(e.occurredAt).toLocaleString()}</td>
                <td>{KIND_LABELS[e.kind]}</td>
                <td>{e.listSeq ?? '—'}</td>
                <td>
                  {e.kind === 'counter_drift'
                    ? `drift ${formatDrift(e.drift ?? 0)}`
                    : e.codeIndex !== null
                      ? `code #${e.codeIndex}`
                      : '—'}
                </td>
                <td className="mono">{e.source}</td>
                <td>{e.resolution ? `${RESOLUTION_LABELS[e.resolution]} by ${e.resolvedBy ?? '?'}` : 'open'}</td>
                {mayReport ? (
                  <td>
                    {e.resolution ? null : (
                      <a
                        className="button"
                        href={`#/support?n=${encodeURIComponent(n)}&reason=suspected_clone&suspicion=${e.id}`}
                      >
                        Report card (event {e.id})
                      </a>
                    )}
                  </td>
                ) : null}
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </section>
  );
}

function Verdict({ result }: { result: CounterComparison }) {
  const d = result.drift ?? 0;
  switch (result.verdict) {
    case 'probable_clone':
      return (
        <div className="banner banner-error" role="alert" data-testid="clone-verdict">
          Probable clone: the bank accepted {d} code{d === 1 ? '' : 's'} of table {result.listSeq} that this card never
          gave out (drift {formatDrift(d)}).
        </div>
      );
    case 'card_ahead':
      return (
        <div className="banner" role="status" data-testid="clone-verdict">
          The card is ahead of the bank by {-d} code{d === -1 ? '' : 's'}: given out but not (yet) verified — used
          offline, or read and not typed. Not a sign of a clone.
        </div>
      );
    case 'in_step':
      return (
        <div className="banner banner-ok" role="status" data-testid="clone-verdict">
          The card and the bank agree: {result.serverUsed} code{result.serverUsed === 1 ? '' : 's'} used.
        </div>
      );
    default:
      return (
        <div className="banner" role="status" data-testid="clone-verdict">
          {result.note ?? 'The counters could not be compared.'}
        </div>
      );
  }
}

function formatDrift(d: number): string {
  return d > 0 ? `+${d}` : String(d);
}
