import type { SessionInfo } from '../../../shared/contract/auth.contract';
import { OperatorsPanel } from './OperatorsPanel';
import { PoliciesPanel } from './PoliciesPanel';

export function AdminPage({ session }: { session: SessionInfo }) {
  return (
    <section className="page" aria-label="Admin">
      <h1>Admin</h1>
      <OperatorsPanel session={session} />
      <PoliciesPanel />
    </section>
  );
}
