import { useState } from 'react';
import type { Role } from '../../../shared/roles';
import { useAction, useCall } from '../../api/client';
import { ConfirmDialog } from '../../ui/dialogs';
import { ErrorBanner } from '../../ui/forms';

// What the verification service's use left on a card (docs/verification-service.md "At the desk"):
// its failure lockout ("too many failures": since when, how many) and whether a refill is due or
// queued. The service runs in another process, so this asks again every few seconds.

const REFRESH_MS = 5_000;
const CLEARERS: readonly Role[] = ['manager', 'support'];
const when = (iso: string | null) => (iso ? iso.replace('T', ' ').slice(0, 19) : '');

export const REFILL_LABELS = { none: 'no refill needed', due: 'refill due', queued: 'refill queued' } as const;

/** Table rows for the card page's card table. */
export function CardUseRows({ n, role }: { n: string; role: Role }) {
  const status = useCall('verification:cardStatus', { n }, { refetchInterval: REFRESH_MS, retry: false });
  const [confirm, setConfirm] = useState(false);
  const clear = useAction('verification:clearLockout');
  const s = status.data;
  if (!s) return null;
  const locked = s.failures?.lockedAt ?? null;
  return (
    <>
      <tr>
        <th scope="row">Online use</th>
        <td data-testid="card-lockout">
          {locked ? (
            <strong>
              Locked out: too many failures ({s.failures?.consecutive} in a row) since {when(locked)}
            </strong>
          ) : s.failures ? (
            `${s.failures.consecutive} failed code${s.failures.consecutive === 1 ? '' : 's'} in a row, last ${when(s.failures.lastFailureAt)}`
          ) : (
            'no failed codes'
          )}
          {locked && CLEARERS.includes(role) ? (
            <>
              {' '}
              <button type="button" className="danger" disabled={clear.isPending} onClick={() => setConfirm(true)}>
                Clear lockout
              </button>
              <ConfirmDialog
                open={confirm}
                title="Clear the lockout?"
                body={`Card ${s.n} will be checked again by the verification service. Clear it only once you have spoken with the cardholder.`}
                confirmLabel="Clear lockout"
                danger
                onConfirm={() => clear.mutate({ n: s.n })}
                onClose={() => setConfirm(false)}
              />
            </>
          ) : null}
          {clear.isSuccess && !locked ? <span role="status"> Lockout cleared.</span> : null}
          <ErrorBanner error={clear.error} />
        </td>
      </tr>
      <tr>
        <th scope="row">Codes left</th>
        <td data-testid="card-refill">
          {s.remaining === null ? 'no active list' : s.remaining} ({REFILL_LABELS[s.refill]})
        </td>
      </tr>
    </>
  );
}

/** One line for a card in a list (the customer page). */
export function CardUseBadge({ n }: { n: string }) {
  const status = useCall('verification:cardStatus', { n }, { refetchInterval: REFRESH_MS, retry: false });
  const s = status.data;
  if (!s) return <span className="muted">—</span>;
  return (
    <span data-testid={`card-use-${n}`}>
      {s.failures?.lockedAt ? <strong>locked out (too many failures)</strong> : null}
      {s.failures?.lockedAt ? '; ' : ''}
      {REFILL_LABELS[s.refill]}
    </span>
  );
}
