import { useRef, useState, type KeyboardEvent } from 'react';
import {
  CUSTOMER_SEARCH_FIELDS,
  type CustomerSearchField,
  type CustomerSort,
} from '../../../shared/contract/customers.contract';
import { useCall } from '../../api/client';
import { ErrorBanner, Form } from '../../ui/forms';
import { customerHref } from './CustomersPage';
import { Pager } from '../../ui/table';

const FIELD_LABELS: Record<CustomerSearchField, string> = {
  any: 'Name, reference, card id or N',
  name: 'Name',
  customerRef: 'Customer reference',
  cardId: 'Card id',
  n: 'Identification code N',
};

const COLUMNS: { sort: CustomerSort; label: string }[] = [
  { sort: 'name', label: 'Name' },
  { sort: 'birthDate', label: 'Born' },
  { sort: 'customerRef', label: 'Reference' },
  { sort: 'city', label: 'City' },
  { sort: 'branch', label: 'Branch' },
  { sort: 'updatedAt', label: 'Last change' },
];

const PAGE_SIZE = 25;

interface Search {
  query: string;
  field: CustomerSearchField;
}

/** The search box and the results: Enter searches, headers sort, arrows move between rows. */
export function CustomerList({ mayEdit }: { mayEdit: boolean }) {
  const [draft, setDraft] = useState<Search>({ query: '', field: 'any' });
  const [applied, setApplied] = useState<Search>(draft);
  const [sort, setSort] = useState<{ by: CustomerSort; direction: 'asc' | 'desc' }>({ by: 'name', direction: 'asc' });
  const [page, setPage] = useState(1);
  const result = useCall('customers:search', {
    query: applied.query,
    field: applied.field,
    sort: sort.by,
    direction: sort.direction,
    page,
    pageSize: PAGE_SIZE,
  });
  const tbody = useRef<HTMLTableSectionElement>(null);
  const pages = result.data ? Math.max(1, Math.ceil(result.data.total / result.data.pageSize)) : 1;

  const sortBy = (by: CustomerSort) => {
    setSort((s) => ({ by, direction: s.by === by && s.direction === 'asc' ? 'desc' : 'asc' }));
    setPage(1);
  };

  // Up and down move between the rows' links; Enter on a link opens the customer.
  const onRowsKey = (e: KeyboardEvent<HTMLTableSectionElement>) => {
    if (e.key !== 'ArrowDown' && e.key !== 'ArrowUp') return;
    const links = [...(tbody.current?.querySelectorAll<HTMLAnchorElement>('a.row-link') ?? [])];
    const at = links.indexOf(document.activeElement as HTMLAnchorElement);
    const next = links[at + (e.key === 'ArrowDown' ? 1 : -1)];
    if (next) {
      e.preventDefault();
      next.focus();
    }
  };

  return (
    <section className="page" aria-label="Customers">
      <h1>Customers</h1>
      <Form
        label="Search customers"
        onSubmit={() => {
          setApplied(draft);
          setPage(1);
        }}
      >
        <div className="toolbar">
          <div className="field">
            <label htmlFor="customer-search">Search</label>
            <input
              id="customer-search"
              type="search"
              autoFocus
              value={draft.query}
              placeholder={FIELD_LABELS[draft.field]}
              onChange={(e) => setDraft({ ...draft, query: e.target.value })}
            />
          </div>
          <div className="field">
            <label htmlFor="customer-search-field">Search in</label>
            <select
              id="customer-search-field"
              value={draft.field}
              onChange={(e) => setDraft({ ...draft, field: e.target.value as CustomerSearchField })}
            >
              {CUSTOMER_SEARCH_FIELDS.map((f) => (
                <option key={f} value={f}>
                  {FIELD_LABELS[f]}
                </option>
              ))}
            </select>
          </div>
          <button type="submit" className="primary">
            Search
          </button>
          {mayEdit ? (
            <a className="button" href={customerHref({ kind: 'new' })}>
              New customer
            </a>
          ) : null}
        </div>
      </Form>
      <ErrorBanner error={result.error} />
      {result.isPending ? <div className="muted">Searching…</div> : null}
      {result.data && result.data.customers.length === 0 ? (
        <div className="empty-state" data-testid="customers-empty">
          {applied.query
            ? `No customer matches “${applied.query}”. Check the spelling, search in another field, or create the customer.`
            : mayEdit
              ? 'No customers yet. Create the first one with “New customer”.'
              : 'No customers yet.'}
        </div>
      ) : null}
      {result.data && result.data.customers.length > 0 ? (
        <>
          <table className="grid" aria-label="Customer list">
            <thead>
              <tr>
                {COLUMNS.map((c) => (
                  <th
                    key={c.sort}
                    aria-sort={sort.by === c.sort ? (sort.direction === 'asc' ? 'ascending' : 'descending') : undefined}
                  >
                    <button type="button" className="sort" onClick={() => sortBy(c.sort)}>
                      {c.label}
                      {sort.by === c.sort ? (sort.direction === 'asc' ? ' ▲' : ' ▼') : ''}
                    </button>
                  </th>
                ))}
                <th>Cards</th>
              </tr>
            </thead>
            <tbody ref={tbody} onKeyDown={onRowsKey}>
              {result.data.customers.map((c) => (
                <tr key={c.id} data-customer-id={c.id}>
                  <td>
                    <a className="row-link" href={customerHref({ kind: 'show', id: c.id })}>
                      {c.fullName}
                    </a>
                  </td>
                  <td>{c.birthDate ?? ''}</td>
                  <td>{c.customerRef ?? ''}</td>
                  <td>{c.city}</td>
                  <td>{c.branch}</td>
                  <td>{c.updatedAt.replace('T', ' ').slice(0, 16)}</td>
                  <td>{c.cards}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <Pager
            page={page}
            pages={pages}
            onPage={setPage}
          >{` (${result.data.total} customer${result.data.total === 1 ? '' : 's'})`}</Pager>
        </>
      ) : null}
    </section>
  );
}
