import { useMemo, useRef } from 'react';
import { useQueries } from '@tanstack/react-query';
import { flexRender, getCoreRowModel, useReactTable, type ColumnDef } from '@tanstack/react-table';
import { useVirtualizer } from '@tanstack/react-virtual';
import type { UsageRow, UsageSort } from '../../../shared/contract/usage.contract';
import { call, type CallError } from '../../api/client';
import { ErrorBanner } from '../../ui/forms';
import type { UsageView } from './usage-params';

// The usage table: the server sorts and pages (usage:rows); the page only ever holds the pages the
// visible rows fall in, and draws only the rows in view (TanStack Virtual), so a million rows scroll
// like a hundred. TanStack Table lays out the columns and the sort state.

const PAGE_SIZE = 100;
const ROW_HEIGHT = 33;

interface Slot {
  index: number;
  row: UsageRow | null;
}

const num = (key: keyof UsageRow) => (s: Slot) => (s.row ? (s.row[key] as number) : null);

function columnsFor(by: UsageView['by']): (ColumnDef<Slot> & { id: string; sortKey?: UsageSort })[] {
  const identity: (ColumnDef<Slot> & { id: string; sortKey?: UsageSort })[] =
    by === 'card'
      ? [
          { id: 'card', header: 'Card', accessorFn: (s) => s.row?.cardId, sortKey: 'key' },
          { id: 'n', header: 'N', accessorFn: (s) => s.row?.n },
          { id: 'customer', header: 'Customer', accessorFn: (s) => s.row?.customer, sortKey: 'customer' },
          { id: 'branch', header: 'Branch', accessorFn: (s) => s.row?.branch, sortKey: 'branch' },
        ]
      : by === 'customer'
        ? [
            { id: 'customer', header: 'Customer', accessorFn: (s) => s.row?.customer, sortKey: 'customer' },
            { id: 'ref', header: 'Reference', accessorFn: (s) => s.row?.customerRef },
            { id: 'branch', header: 'Branch', accessorFn: (s) => s.row?.branch, sortKey: 'branch' },
            { id: 'cards', header: 'Cards', accessorFn: num('cards') },
          ]
        : [
            { id: 'branch', header: 'Branch', accessorFn: (s) => s.row?.branch, sortKey: 'key' },
            { id: 'cards', header: 'Cards', accessorFn: num('cards') },
          ];
  return [
    ...identity,
    { id: 'issued', header: 'Issued', accessorFn: num('issued'), sortKey: 'issued' },
    { id: 'used', header: 'Used', accessorFn: num('used'), sortKey: 'used' },
    { id: 'remaining', header: 'Remaining', accessorFn: num('remaining'), sortKey: 'remaining' },
    { id: 'refillsDue', header: 'Refills due', accessorFn: num('refillsDue') },
    { id: 'usesInRange', header: 'Uses in range', accessorFn: num('usesInRange'), sortKey: 'usesInRange' },
    { id: 'rejections', header: 'Refusals', accessorFn: num('rejections'), sortKey: 'rejections' },
    {
      id: 'suspicions',
      header: 'Suspicions (open)',
      accessorFn: (s) => (s.row ? `${s.row.suspicions} (${s.row.openSuspicions})` : null),
      sortKey: 'suspicions',
    },
    { id: 'drift', header: 'Drift', accessorFn: (s) => (s.row ? (s.row.drift ?? '—') : null) },
  ];
}

export function UsageTable(props: { view: UsageView; onSort: (sort: UsageSort, desc: boolean) => void }) {
  const { view } = props;
  const scroller = useRef<HTMLDivElement>(null);
  const base = { filter: view.filter, by: view.by, sort: view.sort, desc: view.desc, pageSize: PAGE_SIZE };
  const pageQuery = (page: number) => ({
    queryKey: ['usage', 'usage:rows', { ...base, page }],
    queryFn: () => call('usage:rows', { ...base, page }),
    staleTime: 30_000,
  });

  const [first] = useQueries({ queries: [pageQuery(1)] });
  const total = first?.data?.total ?? 0;
  const virtualizer = useVirtualizer({
    count: total,
    getScrollElement: () => scroller.current,
    estimateSize: () => ROW_HEIGHT,
    overscan: 12,
  });
  const items = virtualizer.getVirtualItems();
  const pages = [...new Set(items.map((i) => Math.floor(i.index / PAGE_SIZE) + 1))];
  const loaded = useQueries({ queries: pages.map(pageQuery) });
  const rowAt = (index: number): UsageRow | null => {
    const p = Math.floor(index / PAGE_SIZE) + 1;
    const q = p === 1 ? first : loaded[pages.indexOf(p)];
    return q?.data?.rows[index % PAGE_SIZE] ?? null;
  };
  const slots: Slot[] = items.map((i) => ({ index: i.index, row: rowAt(i.index) }));
  const columns = useMemo(() => columnsFor(view.by), [view.by]);
  const table = useReactTable({
    data: slots,
    columns,
    getCoreRowModel: getCoreRowModel(),
    manualSorting: true,
    state: { sorting: [] },
  });
  const error = (first?.error ?? loaded.find((q) => q.error)?.error ?? null) as CallError | null;
  const padTop = items[0]?.start ?? 0;
  const padBottom = items.length ? virtualizer.getTotalSize() - items[items.length - 1]!.end : 0;

  if (first?.data && total === 0)
    return (
      <div className="empty-state" data-testid="usage-empty">
        No {view.by === 'card' ? 'cards' : view.by === 'customer' ? 'customers' : 'branches'} match these filters. Widen
        the range or clear the search.
      </div>
    );
  return (
    <>
      <ErrorBanner error={error} />
      <p className="muted" aria-live="polite" data-testid="usage-total">
        {first?.data
          ? `${total} ${view.by === 'card' ? 'cards' : view.by === 'customer' ? 'customers' : 'branches'}`
          : 'Loading…'}
      </p>
      <div
        ref={scroller}
        className="virtual-scroller"
        tabIndex={0}
        role="region"
        aria-label="Usage table, scroll with the arrow and page keys"
      >
        <table className="grid" aria-label="Usage" aria-rowcount={total + 1} data-testid="usage-table">
          <thead>
            {table.getHeaderGroups().map((hg) => (
              <tr key={hg.id} aria-rowindex={1}>
                {hg.headers.map((h) => {
                  const key = (h.column.columnDef as { sortKey?: UsageSort }).sortKey;
                  const active = key !== undefined && key === view.sort;
                  const label = flexRender(h.column.columnDef.header, h.getContext());
                  return (
                    <th
                      key={h.id}
                      scope="col"
                      aria-sort={active ? (view.desc ? 'descending' : 'ascending') : undefined}
                    >
                      {key ? (
                        <button
                          type="button"
                          className="link"
                          onClick={() =>
                            props.onSort(
                              key,
                              active ? !view.desc : key !== 'key' && key !== 'customer' && key !== 'branch',
                            )
                          }
                        >
                          {label}
                          {active ? (view.desc ? ' ▼' : ' ▲') : ''}
                        </button>
                      ) : (
                        label
                      )}
                    </th>
                  );
                })}
              </tr>
            ))}
          </thead>
          <tbody>
            {padTop > 0 ? (
              <tr aria-hidden="true" style={{ height: padTop }}>
                <td colSpan={columns.length} />
              </tr>
            ) : null}
            {table.getRowModel().rows.map((r) => (
              <tr
                key={r.original.index}
                aria-rowindex={r.original.index + 2}
                style={{ height: ROW_HEIGHT }}
                data-key={r.original.row?.key}
              >
                {r.original.row ? (
                  r
                    .getVisibleCells()
                    .map((c) => <td key={c.id}>{flexRender(c.column.columnDef.cell, c.getContext())}</td>)
                ) : (
                  <td colSpan={columns.length} className="muted">
                    Loading…
                  </td>
                )}
              </tr>
            ))}
            {padBottom > 0 ? (
              <tr aria-hidden="true" style={{ height: padBottom }}>
                <td colSpan={columns.length} />
              </tr>
            ) : null}
          </tbody>
        </table>
      </div>
    </>
  );
}
