import { useEffect, useState } from 'react';
import { PAGES, type Page } from '../../shared/roles';

export const PAGE_LABELS: Record<Page, string> = {
  dashboard: 'Dashboard',
  customers: 'Customers',
  enroll: 'Enroll',
  mailers: 'Mailers',
  cards: 'Cards & lists',
  reissue: 'Reissue',
  usage: 'Usage',
  audit: 'Audit',
  keys: 'Keys',
  admin: 'Admin',
  clients: 'Service clients',
};

function parse(hash: string): Page {
  const name = hash.replace(/^#\/?/, '').split('/')[0] ?? '';
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
