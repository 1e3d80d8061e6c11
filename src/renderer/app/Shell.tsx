import { useEffect, type ReactNode } from 'react';
import type { SessionInfo } from '../../shared/contract/auth.contract';
import { PAGES, ROLE_LABELS, mayOpen, type Page } from '../../shared/roles';
import { useAction, useCall } from '../api/client';
import { ErrorBanner } from '../ui/forms';
import { PAGE_LABELS, useRoute } from './routes';
import { StatusBar } from './StatusBar';
import { pageComponent } from './pages';

export function Shell({ session }: { session: SessionInfo }) {
  const [page, go] = useRoute();
  const signOut = useAction('auth:signOut');

  // Alt+1…9 jumps between the pages this role may open.
  useEffect(() => {
    const allowed = PAGES.filter((p) => mayOpen(session.role, p));
    const onKey = (e: KeyboardEvent) => {
      if (!e.altKey) return;
      const i = Number(e.key) - 1;
      const target = allowed[i];
      if (target) {
        e.preventDefault();
        go(target);
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [session.role, go]);

  return (
    <div className="shell">
      <header className="topbar">
        <div className="brand">OTAC Issuer Workstation</div>
        <div className="who">
          <span data-testid="operator">{session.displayName}</span>
          <span className="role-badge">{ROLE_LABELS[session.role]}</span>
          <button type="button" onClick={() => signOut.mutate({})} disabled={signOut.isPending}>
            Sign out
          </button>
        </div>
      </header>
      <nav className="sidenav" aria-label="Pages">
        {PAGES.filter((p) => mayOpen(session.role, p)).map((p, i) => (
          <a key={p} href={`#/${p}`} aria-current={p === page ? 'page' : undefined} title={`Alt+${i + 1}`}>
            {PAGE_LABELS[p]}
          </a>
        ))}
      </nav>
      <main className="content">
        <PageGate page={page}>{pageComponent(page, session)}</PageGate>
      </main>
      <StatusBar session={session} />
    </div>
  );
}

/** Main decides whether this operator may open the page; the page renders only after it agrees. */
function PageGate({ page, children }: { page: Page; children: ReactNode }) {
  const open = useCall('nav:open', { page });
  if (open.isPending) return <div className="muted">Opening {PAGE_LABELS[page]}…</div>;
  if (open.isError)
    return (
      <section className="page" aria-label={PAGE_LABELS[page]}>
        <h1>{PAGE_LABELS[page]}</h1>
        <ErrorBanner error={open.error} />
      </section>
    );
  if (open.data.status === 'planned')
    return (
      <section className="page" aria-label={PAGE_LABELS[page]}>
        <h1>{PAGE_LABELS[page]}</h1>
        <div className="empty-state">
          <p>{open.data.note}</p>
        </div>
      </section>
    );
  return <>{children}</>;
}
