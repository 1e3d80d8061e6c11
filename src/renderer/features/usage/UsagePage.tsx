import { useState } from 'react';
import {
  REJECTION_REASONS,
  USAGE_CSV_PATH,
  type UsageGroup,
  type UsageSummary,
} from '../../../shared/contract/usage.contract';
import { shellKind } from '../../api/bridge';
import { useAction, useCall } from '../../api/client';
import { useHashParams } from '../../app/routes';
import { ErrorBanner, Field, Form } from '../../ui/forms';
import { Pager } from '../../ui/table';
import { BranchChart, UsePerDayChart } from './UsageCharts';
import { UsageTable } from './UsageTable';
import { REASON_LABELS, paramsFromView, viewFromParams, type UsageView } from './usage-params';

// The usage review (docs/usage-review.md): managers, auditors and support see what was issued, used
// and refused, and what looks like a clone, per card, customer and branch over a range of days.
// Every filter lives in the address, so a reload, a bookmark or Back shows the same view.

/** `mayReport`: support staff may open a report from an open suspicion event (the Support page). */
export function UsagePage({ mayReport = false }: { mayReport?: boolean }) {
  const [params, setParams] = useHashParams();
  const view = viewFromParams(params);
  const apply = (next: UsageView) => setParams(paramsFromView(next));
  const summary = useCall('usage:summary', { filter: view.filter });

  return (
    <section className="page" aria-label="Usage">
      <h1>Usage review</h1>
      <UsageFilters
        key={params.toString()}
        view={view}
        branches={summary.data?.byBranch.map((b) => b.branch) ?? []}
        onApply={apply}
      />
      <ErrorBanner error={summary.error} />
      {summary.data ? <Tiles s={summary.data} /> : <p className="muted">Loading…</p>}
      {summary.data ? (
        <div className="charts">
          <UsePerDayChart summary={summary.data} from={view.filter.from!} to={view.filter.to!} />
          <BranchChart summary={summary.data} />
        </div>
      ) : null}

      <h2 id="usage-table-title">Per {view.by}</h2>
      <div className="toolbar">
        <div className="field">
          <label htmlFor="usage-by">Show one row per</label>
          <select
            id="usage-by"
            value={view.by}
            onChange={(e) => apply({ ...view, by: e.target.value as UsageGroup, sort: 'key', desc: false })}
          >
            <option value="card">card</option>
            <option value="customer">customer</option>
            <option value="branch">branch</option>
          </select>
        </div>
        {shellKind === 'browser' ? (
          <a className="button" href={`${USAGE_CSV_PATH}?${exportParams(view)}`} download data-testid="usage-export">
            Export CSV
          </a>
        ) : (
          <SaveCsvButton view={view} />
        )}
      </div>
      {/* A new query is a new table, scrolled to its top: never a stale offset over another row count. */}
      <UsageTable key={JSON.stringify(view)} view={view} onSort={(sort, desc) => apply({ ...view, sort, desc })} />

      <h2>Suspicion events</h2>
      <Suspicions view={view} mayReport={mayReport} />
    </section>
  );
}

/** The Electron window: main asks where to save and streams the rows into that file. */
function SaveCsvButton({ view }: { view: UsageView }) {
  const save = useAction('usage:export');
  return (
    <>
      <button type="button" onClick={() => save.mutate({ filter: view.filter, by: view.by })} disabled={save.isPending}>
        {save.isPending ? 'Exporting…' : 'Export CSV'}
      </button>
      {save.data?.status === 'saved' ? <span role="status">Saved {save.data.rows} rows.</span> : null}
      <ErrorBanner error={save.error} />
    </>
  );
}

function exportParams(v: UsageView): string {
  const p = paramsFromView(v);
  p.delete('sort');
  p.delete('desc');
  p.set('by', v.by);
  return p.toString();
}

function UsageFilters(props: { view: UsageView; branches: string[]; onApply: (v: UsageView) => void }) {
  const [draft, setDraft] = useState(props.view.filter);
  const set = (k: keyof typeof draft) => (e: { target: { value: string } }) =>
    setDraft({ ...draft, [k]: e.target.value || undefined });
  // The branch in the address stays choosable even when no card of it is in view.
  const branches = [...new Set([...props.branches, ...(props.view.filter.branch ? [props.view.filter.branch] : [])])];
  return (
    <Form label="Usage filters" onSubmit={() => props.onApply({ ...props.view, filter: draft })}>
      <div className="toolbar">
        <Field label="From" name="from" type="date" value={draft.from ?? ''} onChange={set('from')} required />
        <Field label="To" name="to" type="date" value={draft.to ?? ''} onChange={set('to')} required />
        <div className="field">
          <label htmlFor="usage-branch">Branch</label>
          <select id="usage-branch" value={draft.branch ?? ''} onChange={set('branch')}>
            <option value="">all branches</option>
            {branches.map((b) => (
              <option key={b} value={b}>
                {b}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor="usage-reason">Refusal reason</label>
          <select id="usage-reason" value={draft.reason ?? ''} onChange={set('reason')}>
            <option value="">any</option>
            {REJECTION_REASONS.map((r) => (
              <option key={r} value={r}>
                {REASON_LABELS[r]}
              </option>
            ))}
          </select>
        </div>
        <Field
          label="Customer, card or N"
          name="q"
          type="search"
          value={draft.q ?? ''}
          onChange={set('q')}
          maxLength={80}
        />
        <button type="submit" className="primary">
          Apply
        </button>
        <button type="button" onClick={() => props.onApply({ filter: {}, by: 'card', sort: 'key', desc: false })}>
          Reset
        </button>
      </div>
    </Form>
  );
}

function Tiles({ s }: { s: UsageSummary }) {
  const tiles: [string, string | number, string?][] = [
    ['Cards', s.cards],
    ['Codes issued', s.issued],
    ['Codes used', s.used],
    ['Codes remaining', s.remaining],
    ['Refills due', s.refillsDue],
    ['Uses in range', s.usesInRange],
    ['Refusals in range', s.rejections],
    ['Suspicion events (open)', `${s.suspicions} (${s.openSuspicions})`],
    ['Largest drift', s.maxDrift ?? '—', 'server ahead of card: a probable clone'],
  ];
  return (
    <dl className="tiles" aria-label="Usage totals">
      {tiles.map(([label, value, hint]) => (
        <div className="tile" key={label} data-testid={`tile-${label}`}>
          <dt>{label}</dt>
          <dd title={hint}>{value}</dd>
        </div>
      ))}
    </dl>
  );
}

function Suspicions({ view, mayReport }: { view: UsageView; mayReport: boolean }) {
  const [page, setPage] = useState(1);
  const [openOnly, setOpenOnly] = useState(false);
  const result = useCall('usage:suspicions', { filter: view.filter, openOnly, page, pageSize: 25 });
  const pages = result.data ? Math.max(1, Math.ceil(result.data.total / 25)) : 1;
  return (
    <>
      <label className="inline">
        <input type="checkbox" checked={openOnly} onChange={(e) => (setOpenOnly(e.target.checked), setPage(1))} /> Open
        events only
      </label>
      <ErrorBanner error={result.error} />
      {result.data && result.data.rows.length === 0 ? (
        <div className="empty-state">No suspicion event in this range.</div>
      ) : null}
      {result.data && result.data.rows.length > 0 ? (
        <>
          <table className="grid" aria-label="Suspicion events" data-testid="suspicions-table">
            <thead>
              <tr>
                <th scope="col">When (UTC)</th>
                <th scope="col">Card</th>
                <th scope="col">N</th>
                <th scope="col">Customer</th>
                <th scope="col">Branch</th>
                <th scope="col">Kind</th>
                <th scope="col">Drift</th>
                <th scope="col">Status</th>
                {mayReport ? <th scope="col">Support</th> : null}
              </tr>
            </thead>
            <tbody>
              {result.data.rows.map((e) => (
                <tr key={e.id}>
                  <td>{e.occurredAt}</td>
                  <td>{e.cardId}</td>
                  <td>{e.n}</td>
                  <td>{e.customer}</td>
                  <td>{e.branch}</td>
                  <td>{e.kind.replace(/_/g, ' ')}</td>
                  <td>{e.drift ?? ''}</td>
                  <td>{e.resolvedAt ? `resolved (${e.resolution}) by ${e.resolvedBy}` : 'open'}</td>
                  {mayReport ? (
                    <td>
                      {e.resolvedAt ? null : (
                        <a
                          className="button"
                          href={`#/support?n=${encodeURIComponent(e.n)}&reason=suspected_clone&suspicion=${e.id}`}
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
          <Pager page={page} pages={pages} onPage={setPage}>{` (${result.data.total} events)`}</Pager>
        </>
      ) : null}
    </>
  );
}
