import type { ReactNode } from 'react';
import type { SessionInfo } from '../../shared/contract/auth.contract';
import { mayOpen, type Page } from '../../shared/roles';
import { AdminPage } from '../features/admin/AdminPage';
import { AuditPage } from '../features/audit/AuditPage';
import { CustomersPage } from '../features/customers/CustomersPage';
import { CardsPage } from '../features/cards/CardsPage';
import { DashboardPage } from '../features/dashboard/DashboardPage';
import { EnrollPage } from '../features/enrollment/EnrollPage';
import { KeysPage } from '../features/keys/KeysPage';
import { MailersPage } from '../features/mailer/MailersPage';
import { VerifyClientsPage } from '../features/verify-clients/VerifyClientsPage';
import { SupportPage } from '../features/support/SupportPage';
import { UsagePage } from '../features/usage/UsagePage';

/** The page for each route. A page not listed here shows main's note of what will come. */
export function pageComponent(page: Page, session: SessionInfo): ReactNode {
  switch (page) {
    case 'dashboard':
      return <DashboardPage session={session} />;
    case 'customers':
      return <CustomersPage session={session} />;
    case 'admin':
      return <AdminPage session={session} />;
    case 'audit':
      return <AuditPage session={session} />;
    case 'keys':
      return <KeysPage />;
    case 'enroll':
      return <EnrollPage />;
    case 'mailers':
      return <MailersPage />;
    case 'cards':
      return <CardsPage session={session} />;
    case 'clients':
      return <VerifyClientsPage session={session} />;
    case 'usage':
      return <UsagePage mayReport={mayOpen(session.role, 'support')} />;
    case 'support':
      return <SupportPage session={session} />;
    default:
      return <PlannedPage page={page} />;
  }
}

function PlannedPage({ page }: { page: Page }) {
  return (
    <section className="page">
      <h1>{page}</h1>
      <div className="empty-state">This page is being built.</div>
    </section>
  );
}
