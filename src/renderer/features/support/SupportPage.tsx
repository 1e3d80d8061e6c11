import { useMemo, useState } from 'react';
import type { SessionInfo } from '../../../shared/contract/auth.contract';
import type { SupportCaseView } from '../../../shared/contract/support.contract';
import { useHashParams } from '../../app/routes';
import { useCall } from '../../api/client';
import { ErrorBanner } from '../../ui/forms';
import { Pager, SortableHeader } from '../../ui/table';
import { CaseWizard } from './CaseWizard';
import { ReportForm } from './ReportForm';
import { REASON_LABELS, STEP_LABELS, when } from './support-labels';

// The Support page (issue 11 item 5; docs/support.md): report → send passkey → enter passkey →
// reissue → done. The case in hand is in the address (#/support?case=7), so a reload or a restart
// continues it; `?n=…&reason=…&suspicion=…` opens the report with a card preselected (customer page,
// card page's suspicion events).

type Sort = 'openedAt' | 'step' | 'customerName';
const PAGE = 15;
const REASONS = Object.keys(REASON_LABELS) as SupportCaseView['reason'][];

export function SupportPage({ session }: { session: SessionInfo }) {
  const [params, setParams] = useHashParams();
  const caseId = Number(params.get('case') ?? '') || null;
  const n = params.get('n') ?? '';
  const reasonParam = params.get('reason');
  const reason = REASONS.find((r) => r === reasonParam) ?? null;
  const suspicion = Number(params.get('suspicion') ?? '') || null;
  const list = useCall('support:cases', {});
  const go = (next: Record<string, string>) => setParams(new URLSearchParams(next));
  return (
    <section className="page" aria-label="Support">
      <h1>Support</h1>
      <p className="muted">
        A lost, stolen, damaged or cloned card: block it at once, verify the customer with a passkey sent to their
        registered contact, then reissue.
      </p>
      {list.data && list.data.settings.missing.length > 0 ? (
        <div className="banner" role="status" data-testid="support-settings">
          Not configured at this desk: {list.data.settings.missing.join(' ')}
        </div>
      ) : null}
      {caseId ? (
        <CaseWizard
          key={caseId}
          caseId={caseId}
          session={session}
          missing={list.data?.settings.missing ?? []}
          onClose={() => go({})}
        />
      ) : (
        <>
          <ReportForm
            key={`${n}/${suspicion ?? ''}`}
            initialN={n}
            initialReason={reason}
            suspicionId={suspicion}
            onOpened={(id) => go({ case: String(id) })}
          />
          <ErrorBanner error={list.error} />
          <CaseTable cases={list.data?.cases ?? []} loaded={list.isSuccess} onOpen={(id) => go({ case: String(id) })} />
        </>
      )}
    </section>
  );
}

function CaseTable(props: { cases: SupportCaseView[]; loaded: boolean; onOpen: (id: number) => void }) {
  const [sort, setSort] = useState<Sort>('openedAt');
  const [desc, setDesc] = useState(false);
  const [page, setPage] = useState(1);
  const rows = useMemo(() => {
    const all = [...props.cases];
    all.sort((a, b) => (a[sort] < b[sort] ? -1 : a[sort] > b[sort] ? 1 : 0) * (desc ? -1 : 1));
    return all;
  }, [props.cases, sort, desc]);
  const pages = Math.max(1, Math.ceil(rows.length / PAGE));
  const shown = rows.slice((page - 1) * PAGE, page * PAGE);
  const onSort = (c: Sort, d: boolean) => (setSort(c), setDesc(d));
  return (
    <section aria-label="Cases">
      <h2>Cases</h2>
      {props.loaded && rows.length === 0 ? (
        <div className="empty-state">No support case yet. Report a card above, or from the customer or card page.</div>
      ) : null}
      {rows.length > 0 ? (
        <>
          <table className="grid" aria-label="Support cases">
            <thead>
              <tr>
                <th>Case</th>
                <SortableHeader label="Customer" column="customerName" sort={sort} desc={desc} onSort={onSort} />
                <th>Card</th>
                <th>Reason</th>
                <SortableHeader label="Step" column="step" sort={sort} desc={desc} onSort={onSort} />
                <SortableHeader label="Reported" column="openedAt" sort={sort} desc={desc} onSort={onSort} />
                <th>Action</th>
              </tr>
            </thead>
            <tbody>
              {shown.map((c) => (
                <tr key={c.id} data-testid={`case-${c.id}`}>
                  <td>#{c.id}</td>
                  <td>{c.customerName}</td>
                  <td className="mono">{c.n}</td>
                  <td>{REASON_LABELS[c.reason]}</td>
                  <td>{STEP_LABELS[c.step]}</td>
                  <td>
                    {when(c.openedAt)} <span className="muted">by {c.openedBy}</span>
                  </td>
                  <td>
                    <button type="button" onClick={() => props.onOpen(c.id)}>
                      {c.step === 'done' ? 'View' : 'Continue'} case {c.id}
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {pages > 1 ? <Pager page={page} pages={pages} onPage={setPage} /> : null}
        </>
      ) : null}
    </section>
  );
}
