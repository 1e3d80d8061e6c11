import { useEffect, useState } from 'react';
import type { SessionInfo } from '../../../shared/contract/auth.contract';
import { CUSTOMER_EDITORS } from '../../../shared/contract/customers.contract';
import { mayOpen } from '../../../shared/roles';
import { CustomerDetail } from './CustomerDetail';
import { CustomerFormPage } from './CustomerForm';
import { CustomerList } from './CustomerList';

/** Where in the Customers page we are: `#/customers`, `#/customers/new`, `#/customers/12`, `#/customers/12/edit`. */
export type CustomerView = { kind: 'list' } | { kind: 'new' } | { kind: 'show' | 'edit'; id: number };

function parse(hash: string): CustomerView {
  const [, sub, action] = hash.replace(/^#\/?/, '').split('/');
  if (sub === 'new') return { kind: 'new' };
  const id = Number(sub);
  if (sub && Number.isInteger(id) && id > 0) return { kind: action === 'edit' ? 'edit' : 'show', id };
  return { kind: 'list' };
}

export const customerHref = (view: CustomerView): string => {
  switch (view.kind) {
    case 'list':
      return '#/customers';
    case 'new':
      return '#/customers/new';
    case 'show':
      return `#/customers/${view.id}`;
    case 'edit':
      return `#/customers/${view.id}/edit`;
  }
};

export const goCustomer = (view: CustomerView): void => void (window.location.hash = customerHref(view).slice(1));

/** Customers: search and list, a customer's page, and the create and edit forms. */
export function CustomersPage({ session }: { session: SessionInfo }) {
  const [view, setView] = useState<CustomerView>(() => parse(window.location.hash));
  useEffect(() => {
    const on = () => setView(parse(window.location.hash));
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  const mayEdit = (CUSTOMER_EDITORS as readonly string[]).includes(session.role);
  // push:exportSms's roles: who may send a card its queued list by text message.
  const maySendLists = session.role === 'manager' || session.role === 'support';
  const mayReport = mayOpen(session.role, 'support');

  switch (view.kind) {
    case 'list':
      return <CustomerList mayEdit={mayEdit} />;
    case 'new':
      return mayEdit ? <CustomerFormPage id={null} /> : <CustomerList mayEdit={false} />;
    case 'show':
      return <CustomerDetail id={view.id} mayEdit={mayEdit} maySendLists={maySendLists} mayReport={mayReport} />;
    case 'edit':
      return mayEdit ? (
        <CustomerFormPage id={view.id} />
      ) : (
        <CustomerDetail id={view.id} mayEdit={false} maySendLists={maySendLists} mayReport={mayReport} />
      );
  }
}
