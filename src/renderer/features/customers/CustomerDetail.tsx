import { useState } from 'react';
import { CardUseBadge } from '../cards/CardUseStatus';
import type { CustomerCard } from '../../../shared/contract/customers.contract';
import { useCall } from '../../api/client';
import { ErrorBanner } from '../../ui/forms';
import { customerHref } from './CustomersPage';
import { Pager } from '../../ui/table';
import { AuditEntryCells } from '../audit/AuditEntryCells';
import { SmsPackagePanel } from '../push/SmsPackagePanel';

const STATE_LABELS: Record<CustomerCard['state'], string> = {
  enrolling: 'enrolling',
  awaiting_activation: 'awaiting activation',
  active: 'active',
  blocked: 'blocked',
  terminated: 'terminated',
};

const HISTORY_PAGE = 20;
const when = (iso: string | null) => (iso ? iso.replace('T', ' ').slice(0, 16) : '');

/** `#/customers/<id>`: the record, the customer's cards and what happened to them. */
export function CustomerDetail({
  id,
  mayEdit,
  maySendLists = false,
  mayReport = false,
}: {
  id: number;
  mayEdit: boolean;
  maySendLists?: boolean;
  /** Support staff and above: each active card gets a "Report" button (the Support page, card preselected). */
  mayReport?: boolean;
}) {
  const got = useCall('customers:get', { id });
  const [historyPage, setHistoryPage] = useState(1);
  const [oldestFirst, setOldestFirst] = useState(false);

  if (got.isPending)
    return (
      <section className="page" aria-label="Customer">
        <h1>Customer</h1>
        <div className="muted">Loading…</div>
      </section>
    );
  if (got.isError)
    return (
      <section className="page" aria-label="Customer">
        <h1>Customer</h1>
        <ErrorBanner error={got.error} />
        <p>
          <a href={customerHref({ kind: 'list' })}>Back to customers</a>
        </p>
      </section>
    );
  const { customer: c, cards, history, historyTruncated } = got.data;
  const ordered = oldestFirst ? [...history].reverse() : history;
  const historyPages = Math.max(1, Math.ceil(history.length / HISTORY_PAGE));
  const shown = ordered.slice((historyPage - 1) * HISTORY_PAGE, historyPage * HISTORY_PAGE);

  return (
    <section className="page" aria-label="Customer">
      <h1>{c.fullName}</h1>
      <div className="toolbar">
        <a href={customerHref({ kind: 'list' })}>Back to customers</a>
        {mayEdit ? (
          <a className="button" href={customerHref({ kind: 'edit', id: c.id })}>
            Edit customer
          </a>
        ) : null}
      </div>
      <dl className="customer-details" aria-label="Customer details">
        <dt>Birth date</dt>
        <dd>{c.birthDate ?? '—'}</dd>
        <dt>Customer reference</dt>
        <dd>{c.customerRef ?? '—'}</dd>
        <dt>Postal address</dt>
        <dd>
          {c.address.line1}
          {c.address.line2 ? (
            <>
              <br />
              {c.address.line2}
            </>
          ) : null}
          <br />
          {c.address.postalCode} {c.address.city}
          <br />
          {c.address.country}
        </dd>
        <dt>E-mail</dt>
        <dd>{c.email ?? '—'}</dd>
        <dt>Mobile</dt>
        <dd>{c.mobile ?? '—'}</dd>
        <dt>Branch</dt>
        <dd>{c.branch}</dd>
        <dt>Record</dt>
        <dd>
          #{c.id}, version {c.version}, created {when(c.createdAt)} by {c.createdBy}, last change {when(c.updatedAt)}
        </dd>
      </dl>

      <h2>Cards</h2>
      {cards.length === 0 ? (
        <div className="empty-state">No card is bound to this customer yet. Enroll a blank card to issue one.</div>
      ) : (
        <table className="grid" aria-label="Cards of this customer">
          <thead>
            <tr>
              <th>Card id</th>
              <th>N</th>
              <th>State</th>
              <th>Enrolled</th>
              <th>Activated</th>
              <th>State since</th>
              <th>Online use</th>
              {mayReport ? <th>Support</th> : null}
            </tr>
          </thead>
          <tbody>
            {cards.map((card) => (
              <tr key={card.id}>
                <td className="mono">{card.cardId}</td>
                <td className="mono">{card.n}</td>
                <td>{STATE_LABELS[card.state]}</td>
                <td>
                  {when(card.enrolledAt)} <span className="muted">by {card.enrolledBy}</span>
                </td>
                <td>{when(card.activatedAt) || '—'}</td>
                <td>{when(card.stateChangedAt)}</td>
                <td>{card.state === 'active' || card.state === 'blocked' ? <CardUseBadge n={card.n} /> : '—'}</td>
                {mayReport ? (
                  <td>
                    {card.state === 'active' || card.state === 'awaiting_activation' ? (
                      <a className="button" href={`#/support?n=${encodeURIComponent(card.n)}`}>
                        Report card {card.n}
                      </a>
                    ) : (
                      '—'
                    )}
                  </td>
                ) : null}
              </tr>
            ))}
          </tbody>
        </table>
      )}

      {maySendLists ? <SmsPackagePanel cards={cards.filter((card) => card.state === 'active')} /> : null}

      <h2>History</h2>
      {history.length === 0 ? (
        <div className="empty-state">Nothing recorded yet.</div>
      ) : (
        <>
          <table className="grid" aria-label="History of this customer">
            <thead>
              <tr>
                <th aria-sort={oldestFirst ? 'ascending' : 'descending'}>
                  <button
                    type="button"
                    className="sort"
                    onClick={() => {
                      setOldestFirst(!oldestFirst);
                      setHistoryPage(1);
                    }}
                  >
                    When (UTC){oldestFirst ? ' ▲' : ' ▼'}
                  </button>
                </th>
                <th>Operator</th>
                <th>Action</th>
                <th>Object</th>
                <th>Outcome</th>
                <th>Details</th>
              </tr>
            </thead>
            <tbody>
              {shown.map((e) => (
                <tr key={e.seq}>
                  <AuditEntryCells e={e} />
                </tr>
              ))}
            </tbody>
          </table>
          <Pager page={historyPage} pages={historyPages} onPage={setHistoryPage}>
            {historyTruncated ? ' (the newest entries; the audit page has all of them)' : ''}
          </Pager>
        </>
      )}
    </section>
  );
}
