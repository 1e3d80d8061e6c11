import { useMemo, useState } from 'react';
import {
  ISO_COUNTRIES,
  type Customer,
  type CustomerInput,
  type DuplicateCandidate,
  type DuplicateReason,
} from '../../../shared/contract/customers.contract';
import { useAction, useCall, type CallError } from '../../api/client';
import { Modal } from '../../ui/dialogs';
import { ErrorBanner, Field, Form, fieldError } from '../../ui/forms';
import { customerHref, goCustomer } from './CustomersPage';

interface Draft {
  fullName: string;
  birthDate: string;
  customerRef: string;
  line1: string;
  line2: string;
  postalCode: string;
  city: string;
  country: string;
  email: string;
  mobile: string;
  branch: string;
}

const EMPTY: Draft = {
  fullName: '',
  birthDate: '',
  customerRef: '',
  line1: '',
  line2: '',
  postalCode: '',
  city: '',
  country: '',
  email: '',
  mobile: '',
  branch: '',
};

function fromCustomer(c: Customer): Draft {
  return {
    fullName: c.fullName,
    birthDate: c.birthDate ?? '',
    customerRef: c.customerRef ?? '',
    line1: c.address.line1,
    line2: c.address.line2 ?? '',
    postalCode: c.address.postalCode,
    city: c.address.city,
    country: c.address.country,
    email: c.email ?? '',
    mobile: c.mobile ?? '',
    branch: c.branch,
  };
}

// Empty optional fields travel as empty text; main reads them as "none".
function toInput(d: Draft): CustomerInput {
  return {
    fullName: d.fullName,
    birthDate: d.birthDate,
    customerRef: d.customerRef,
    address: { line1: d.line1, line2: d.line2, postalCode: d.postalCode, city: d.city, country: d.country },
    email: d.email,
    mobile: d.mobile,
    branch: d.branch,
  };
}

export const REASON_LABELS: Record<DuplicateReason, string> = {
  'name-and-birth-date': 'same name and birth date',
  email: 'same e-mail',
  mobile: 'same mobile number',
};

/** `#/customers/new` or `#/customers/<id>/edit`: loads the record to edit first. */
export function CustomerFormPage({ id }: { id: number | null }) {
  const existing = useCall('customers:get', { id: id ?? 1 }, { enabled: id !== null });
  // The form edits the version it opened with. Another desk's save refetches the query, but must
  // not wipe what this operator is typing: the save is refused as stale, and "Reload" starts over.
  const [opened, setOpened] = useState<Customer | null>(null);
  const loaded = existing.data?.customer ?? null;
  if (!opened && loaded) setOpened(loaded); // the first answer is the version opened
  if (id === null) return <CustomerForm customer={null} />;
  const shown = opened ?? loaded;
  if (existing.isError && !shown)
    return (
      <section className="page" aria-label="Edit customer">
        <h1>Edit customer</h1>
        <ErrorBanner error={existing.error} />
      </section>
    );
  if (!shown)
    return (
      <section className="page" aria-label="Edit customer">
        <h1>Edit customer</h1>
        <div className="muted">Loading…</div>
      </section>
    );
  const reload = async () => {
    const again = await existing.refetch();
    if (again.data) setOpened(again.data.customer);
  };
  return <CustomerForm key={shown.version} customer={shown} reload={() => void reload()} />;
}

function CustomerForm({ customer, reload }: { customer: Customer | null; reload?: () => void }) {
  const [draft, setDraft] = useState<Draft>(customer ? fromCustomer(customer) : EMPTY);
  const [candidates, setCandidates] = useState<DuplicateCandidate[] | null>(null);
  const onSaved = (
    out: { status: 'saved'; customer: Customer } | { status: 'possible-duplicates'; candidates: DuplicateCandidate[] },
  ) => {
    if (out.status === 'possible-duplicates') setCandidates(out.candidates);
    else goCustomer({ kind: 'show', id: out.customer.id });
  };
  const create = useAction('customers:create', { onSuccess: onSaved });
  const update = useAction('customers:update', { onSuccess: onSaved });
  const action = customer ? update : create;
  const error: CallError | null = action.error;
  const countries = useMemo(() => countryOptions(), []);
  const title = customer ? `Edit ${customer.fullName}` : 'New customer';

  const save = (confirmDuplicates: boolean) => {
    const input = toInput(draft);
    if (customer) update.mutate({ id: customer.id, version: customer.version, customer: input, confirmDuplicates });
    else create.mutate({ customer: input, confirmDuplicates });
  };
  const set = (k: keyof Draft) => (e: { target: { value: string } }) => setDraft({ ...draft, [k]: e.target.value });
  const err = (path: string) => fieldError(error, `customer.${path}`);

  return (
    <section className="page" aria-label={customer ? 'Edit customer' : 'New customer'}>
      <h1>{title}</h1>
      <p>
        <a href={customer ? customerHref({ kind: 'show', id: customer.id }) : customerHref({ kind: 'list' })}>
          {customer ? 'Back to the customer' : 'Back to customers'}
        </a>
      </p>
      <Form label={customer ? 'Edit customer' : 'Create customer'} onSubmit={() => save(false)}>
        <ErrorBanner error={error} />
        {error?.code === 'CUSTOMER_STALE' && reload ? (
          <p>
            <button type="button" onClick={reload}>
              Reload the customer
            </button>
          </p>
        ) : null}
        <h2>Person</h2>
        <div className="form-grid">
          <Field
            label="Full name"
            name="fullName"
            autoFocus
            autoComplete="off"
            value={draft.fullName}
            onChange={set('fullName')}
            error={err('fullName')}
          />
          <Field
            label="Birth date"
            name="birthDate"
            type="date"
            value={draft.birthDate}
            onChange={set('birthDate')}
            error={err('birthDate')}
            hint="A birth date, a customer reference, or both"
          />
          <Field
            label="Customer reference"
            name="customerRef"
            autoComplete="off"
            value={draft.customerRef}
            onChange={set('customerRef')}
            error={err('customerRef')}
          />
          <Field label="Branch" name="branch" value={draft.branch} onChange={set('branch')} error={err('branch')} />
        </div>
        <h2>Postal address</h2>
        <div className="form-grid">
          <Field
            label="Address line 1"
            name="line1"
            value={draft.line1}
            onChange={set('line1')}
            error={err('address.line1')}
          />
          <Field
            label="Address line 2 (optional)"
            name="line2"
            value={draft.line2}
            onChange={set('line2')}
            error={err('address.line2')}
          />
          <Field
            label="Postal code"
            name="postalCode"
            value={draft.postalCode}
            onChange={set('postalCode')}
            error={err('address.postalCode')}
          />
          <Field label="City" name="city" value={draft.city} onChange={set('city')} error={err('address.city')} />
          <div className="field">
            <label htmlFor="customer-country">Country</label>
            <select
              id="customer-country"
              value={draft.country}
              onChange={set('country')}
              aria-invalid={err('address.country') ? true : undefined}
              aria-describedby={err('address.country') ? 'customer-country-err' : undefined}
            >
              <option value="">Choose a country</option>
              {countries.map((c) => (
                <option key={c.code} value={c.code}>
                  {c.name} ({c.code})
                </option>
              ))}
            </select>
            {err('address.country') ? (
              <div className="field-error" id="customer-country-err" role="alert">
                {err('address.country')}
              </div>
            ) : null}
          </div>
        </div>
        <h2>Second contacts</h2>
        <div className="form-grid">
          <Field
            label="E-mail (optional)"
            name="email"
            type="email"
            value={draft.email}
            onChange={set('email')}
            error={err('email')}
          />
          <Field
            label="Mobile (optional)"
            name="mobile"
            type="tel"
            value={draft.mobile}
            onChange={set('mobile')}
            error={err('mobile')}
            hint="International form, e.g. +44 7700 900123"
          />
        </div>
        <div className="actions">
          <button type="submit" className="primary" disabled={action.isPending}>
            {customer ? 'Save changes' : 'Create customer'}
          </button>
        </div>
      </Form>
      <DuplicateDialog
        candidates={candidates}
        editing={customer !== null}
        pending={action.isPending}
        onConfirm={() => {
          setCandidates(null);
          save(true);
        }}
        onClose={() => setCandidates(null)}
      />
    </section>
  );
}

/** The duplicate warning: who on file may be the same person, and why; saving needs a deliberate yes. */
function DuplicateDialog(props: {
  candidates: DuplicateCandidate[] | null;
  editing: boolean;
  pending: boolean;
  onConfirm: () => void;
  onClose: () => void;
}) {
  const list = props.candidates ?? [];
  return (
    <Modal open={props.candidates !== null} onClose={props.onClose} label="Possible duplicate">
      <h2>Possible duplicate</h2>
      <p>
        {list.length === 1 ? 'A customer on file may be' : `${list.length} customers on file may be`} the same person.
        Cancel and search for {list.length === 1 ? 'them' : 'each'} to check, or {props.editing ? 'save' : 'create'}{' '}
        anyway if this is someone else.
      </p>
      <ul aria-label="Possible duplicates">
        {list.map((c) => (
          <li key={c.id}>
            <strong>{c.fullName}</strong> (#{c.id}){c.birthDate ? `, born ${c.birthDate}` : ''}
            {c.customerRef ? `, ref. ${c.customerRef}` : ''}, {c.city}, {c.branch} —{' '}
            <strong>{c.reasons.map((r) => REASON_LABELS[r]).join(', ')}</strong>
          </li>
        ))}
      </ul>
      <div className="actions">
        <button type="button" autoFocus onClick={props.onClose}>
          Cancel
        </button>
        <button type="button" className="primary" disabled={props.pending} onClick={props.onConfirm}>
          {props.editing ? 'Save anyway' : 'Create anyway'}
        </button>
      </div>
    </Modal>
  );
}

function countryOptions(): { code: string; name: string }[] {
  const names = new Intl.DisplayNames(['en'], { type: 'region' });
  return [...ISO_COUNTRIES]
    .map((code) => ({ code, name: names.of(code) ?? code }))
    .sort((a, b) => a.name.localeCompare(b.name));
}
