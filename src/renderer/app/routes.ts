import { useEffect, useState } from 'react';
import { PAGES, type Page } from '../../shared/roles';

export const PAGE_LABELS: Record<Page, string> = {
  dashboard: 'Dashboard',
  customers: 'Customers',
  enroll: 'Enroll',
  mailers: 'Mailers',
  cards: 'Cards & lists',
  support: 'Support',
  usage: 'Usage',
  audit: 'Audit',
  keys: 'Keys',
  admin: 'Admin',
  clients: 'Service clients',
};

function parse(hash: string): Page {
  const name = hash.replace(/^#\/?/, '').split(/[/?]/)[0] ?? '';
  return (PAGES as readonly string[]).includes(name) ? (name as Page) : 'dashboard';
}

/** Hash routing: every page has an address an operator can bookmark or type. */
export function useRoute(): [Page, (p: Page) => void] {
  const [page, setPage] = useState<Page>(() => parse(window.location.hash));
  useEffect(() => {
    const on = () => setPage(parse(window.location.hash));
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return [page, (p) => void (window.location.hash = `#/${p}`)];
}

/**
 * The search part of the page's address (`#/usage?from=…&branch=…`): a page keeps its filters there,
 * so they survive a reload and can be bookmarked. Setting them adds a history entry (Back undoes).
 */
export function useHashParams(): [URLSearchParams, (next: URLSearchParams) => void] {
  const read = () => new URLSearchParams(window.location.hash.split('?')[1] ?? '');
  const [params, setParams] = useState(read);
  useEffect(() => {
    const on = () => setParams(read());
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return [
    params,
    (next) => {
      const page = window.location.hash.replace(/^#\/?/, '').split(/[/?]/)[0] ?? '';
      const query = next.toString();
      window.location.hash = `#/${page}${query ? `?${query}` : ''}`;
    },
  ];
}
