import type { SessionInfo } from '../../../shared/contract/auth.contract';

// Placeholder: the reissue step (issue 11 items 3 and 4) is built on its own branch and replaces this
// file at merge, with exactly these props.

export function ReissueStep({ caseId }: { caseId: number; session: SessionInfo; onDone: () => void }) {
  return (
    <section aria-label="Reissue" data-testid="reissue-step">
      <h3>Reissue</h3>
      <p className="empty-state">
        The customer of case {caseId} is verified. The reissue of a new card with the remaining codes comes next.
      </p>
    </section>
  );
}
