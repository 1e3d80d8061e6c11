import type { ReactNode } from 'react';

/** A column header that sorts its table: a button inside the <th>, with aria-sort for screen readers. */
export function SortableHeader<K extends string>(props: {
  label: string;
  column: K;
  sort: K;
  desc: boolean;
  onSort: (column: K, desc: boolean) => void;
}) {
  const active = props.sort === props.column;
  return (
    <th aria-sort={active ? (props.desc ? 'descending' : 'ascending') : 'none'}>
      <button type="button" className="link" onClick={() => props.onSort(props.column, active ? !props.desc : false)}>
        {props.label}
        {active ? (props.desc ? ' ▼' : ' ▲') : ''}
      </button>
    </th>
  );
}

/** Previous / next with where we are; disabled at the ends. */
export function Pager(props: { page: number; pages: number; onPage: (p: number) => void; children?: ReactNode }) {
  return (
    <div className="toolbar pager">
      <button type="button" disabled={props.page <= 1} onClick={() => props.onPage(props.page - 1)}>
        Previous
      </button>
      <span>
        Page {props.page} of {props.pages}
        {props.children}
      </span>
      <button type="button" disabled={props.page >= props.pages} onClick={() => props.onPage(props.page + 1)}>
        Next
      </button>
    </div>
  );
}
