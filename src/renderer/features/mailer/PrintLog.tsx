import { useState } from 'react';
import { MAILER_LOG_SORT } from '../../../shared/contract/mailer.contract';
import { useCall } from '../../api/client';
import { ErrorBanner } from '../../ui/forms';
import { Pager, SortableHeader } from '../../ui/table';

type Sort = (typeof MAILER_LOG_SORT)[number];
const PAGE_SIZE = 25;

/** Every print attempt, as PIN-mailer practice requires: serial, card, operator, approver, time, result. */
export function PrintLog() {
  const [sort, setSort] = useState<Sort>('startedAt');
  const [desc, setDesc] = useState(true);
  const [page, setPage] = useState(1);
  const log = useCall('mailer:log', { sort, desc, limit: PAGE_SIZE, offset: (page - 1) * PAGE_SIZE });
  const rows = log.data?.rows ?? [];
  const total = log.data?.total ?? 0;
  const onSort = (column: Sort, d: boolean) => {
    setSort(column);
    setDesc(d);
    setPage(1);
  };
  const header = (label: string, column: Sort) => (
    <SortableHeader label={label} column={column} sort={sort} desc={desc} onSort={onSort} />
  );
  return (
    <section aria-label="Print log">
      <h2>Print log</h2>
      <ErrorBanner error={log.error} />
      {log.data && rows.length === 0 ? <div className="empty-state">No mailer has been printed yet.</div> : null}
      {rows.length > 0 ? (
        <>
          <table className="grid" aria-label="Mailer print log">
            <thead>
              <tr>
                {header('Serial', 'serial')}
                {header('When (UTC)', 'startedAt')}
                {header('N', 'n')}
                <th>Key series</th>
                {header('Kind', 'kind')}
                <th>Reason</th>
                {header('Operator', 'operator')}
                <th>Approver</th>
                {header('Result', 'result')}
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <tr key={r.serial}>
                  <td>{r.serial}</td>
                  <td>{r.startedAt.replace('T', ' ').slice(0, 19)}</td>
                  <td>{r.n}</td>
                  <td>{r.keySn}</td>
                  <td>{r.kind}</td>
                  <td>{r.reason ?? ''}</td>
                  <td>{r.operator}</td>
                  <td>{r.approver ?? ''}</td>
                  <td>
                    {r.result}
                    {r.errorCode ? <span className="muted"> ({r.errorCode})</span> : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <Pager page={page} pages={Math.max(1, Math.ceil(total / PAGE_SIZE))} onPage={setPage}>
            {` (${total} prints)`}
          </Pager>
        </>
      ) : null}
    </section>
  );
}
