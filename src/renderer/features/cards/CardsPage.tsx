import { useEffect, useState } from 'react';
import type { SessionInfo } from '../../../shared/contract/auth.contract';
import type { Approval } from '../../../shared/contract/approval.contract';
import type { CardInReader } from '../../../shared/contract/activation.contract';
import { useAction, useCall } from '../../api/client';
import { useReaders } from '../../app/StatusBar';
import { ApprovalDialog, ConfirmDialog } from '../../ui/dialogs';
import { ErrorBanner } from '../../ui/forms';
import { ActivationForm } from './ActivationForm';
import { CloneCheck } from './CloneCheck';
import { CardUseRows } from './CardUseStatus';
import { PushProgress, usePushProgress } from './PushProgress';
import { SealModeForm } from './SealModeForm';

const LIFE_CYCLE_LABELS: Record<string, string> = {
  blank: 'blank',
  personalised: 'personalised (awaiting activation)',
  active: 'active',
  blocked: 'blocked',
  terminated: 'terminated',
};

/**
 * The card page: driven by whatever card is in the chosen reader. It shows whose card it is, its
 * state as the card and the database see it, and offers the next sensible action.
 */
export function CardsPage({ session }: { session: SessionInfo }) {
  // Live from reader events; until the first one arrives, as main has it now.
  const live = useReaders();
  const initial = useCall('reader:status', {});
  const readers = live ?? initial.data ?? null;
  const [chosen, setChosen] = useState('');
  const names = readers?.readers.map((r) => r.name) ?? [];
  // Until the operator picks one: the first reader holding a card, else the first reader.
  const reader = chosen || readers?.readers.find((r) => r.cardPresent)?.name || names[0] || '';
  const slot = readers?.readers.find((r) => r.name === reader);
  const view = useCall('cards:inReader', { reader }, { enabled: reader !== '', retry: false });
  const { refetch } = view;
  // A card in or out, or a workflow that changed it: read it again.
  const fingerprint = `${slot?.cardPresent ?? false}|${slot?.atr ?? ''}|${slot?.card?.lifeCycle ?? ''}`;
  useEffect(() => {
    if (reader !== '') void refetch();
  }, [fingerprint, reader, refetch]);

  return (
    <section className="page" aria-label="Card in the reader">
      <h1>Card in the reader</h1>
      {!readers ? <div className="empty-state">Waiting for the reader service…</div> : null}
      {readers && names.length === 0 ? (
        <div className="empty-state">{readers.message ?? 'No reader connected. Plug in a card reader.'}</div>
      ) : null}
      {names.length > 0 ? (
        <div className="toolbar">
          <div className="field">
            <label htmlFor="card-page-reader">Reader</label>
            <select id="card-page-reader" value={reader} onChange={(e) => setChosen(e.target.value)}>
              {names.map((n) => (
                <option key={n} value={n}>
                  {n}
                </option>
              ))}
            </select>
          </div>
        </div>
      ) : null}
      <ErrorBanner error={view.error} />
      {/* Keyed by the card: another card in the reader starts with no earlier outcome on show. */}
      {view.data ? <CardView key={view.data.card?.cardId ?? ''} view={view.data} session={session} /> : null}
    </section>
  );
}

function CardView({ view, session }: { view: CardInReader; session: SessionInfo }) {
  // Held here, not in the form: once the card is active the page's next action changes, and the
  // first list's progress and outcome must stay on show.
  const activate = useAction('activation:activate');
  if (!view.card) return <div className="empty-state">{view.note}</div>;
  const role = session.role;
  const activating = view.nextAction === 'activate' || activate.isPending || activate.data !== undefined;
  return (
    <>
      <p className="banner" data-testid="card-note">
        {view.note}
      </p>
      {view.reconciled.length > 0 ? (
        <p className="muted">Brought up to date from the card: {view.reconciled.join('; ')}.</p>
      ) : null}
      <table className="grid" aria-label="Card">
        <tbody>
          <tr>
            <th scope="row">Customer</th>
            <td data-testid="card-customer">{view.record?.customerName ?? 'not enrolled at this desk'}</td>
          </tr>
          <tr>
            <th scope="row">Identification code (N)</th>
            <td className="mono">{view.record?.n ?? view.card.n ?? '—'}</td>
          </tr>
          <tr>
            <th scope="row">Card id</th>
            <td className="mono">{view.card.cardId}</td>
          </tr>
          <tr>
            <th scope="row">State</th>
            <td data-testid="card-state">{LIFE_CYCLE_LABELS[view.card.lifeCycle] ?? view.card.lifeCycle}</td>
          </tr>
          <tr>
            <th scope="row">Card key version</th>
            <td data-testid="card-key-version">{view.card.keyVersion}</td>
          </tr>
          <tr>
            <th scope="row">Activation tries left</th>
            <td data-testid="activation-tries">{view.card.activationTriesLeft}</td>
          </tr>
          <tr>
            <th scope="row">PIN tries left</th>
            <td>{view.card.pinTriesLeft}</td>
          </tr>
          {view.record ? (
            <tr>
              <th scope="row">Lists sealed for</th>
              <td data-testid="card-seal-mode">
                {view.record.sealMode === 'public-key' ? 'the card’s own key pair (public-key mode)' : 'the card key K'}
              </td>
            </tr>
          ) : null}
          {view.record?.n ? <CardUseRows n={view.record.n} role={role} /> : null}
        </tbody>
      </table>
      {activating && (role === 'clerk' || role === 'manager') ? (
        <ActivationForm reader={view.reader} triesLeft={view.card.activationTriesLeft} activate={activate} />
      ) : null}
      {view.nextAction === 'unblock' && role === 'manager' ? <UnblockCard reader={view.reader} /> : null}
      {view.nextAction === 'rotate' && (role === 'clerk' || role === 'manager' || role === 'support') ? (
        <PushList reader={view.reader} />
      ) : null}
      {view.nextAction === 'rotate' && view.record && (role === 'clerk' || role === 'manager' || role === 'support') ? (
        <CloneCheck reader={view.reader} n={view.record.n} session={session} />
      ) : null}
      {view.nextAction === 'rotate' && view.record && role === 'manager' ? (
        <SealModeForm reader={view.reader} sealMode={view.record.sealMode} />
      ) : null}
      {view.nextAction === 'rotate' && (role === 'manager' || role === 'support' || role === 'security_officer') ? (
        <RotateKey reader={view.reader} keyVersion={view.card.keyVersion} />
      ) : null}
    </>
  );
}

/** Pushes the card's next list (a refill, or one an interruption left half done), with progress. */
function PushList({ reader }: { reader: string }) {
  const [progress, resetProgress] = usePushProgress(reader);
  const push = useAction('push:pushNext');
  const outcome = push.data;
  return (
    <section aria-label="Code list">
      <h2>Code list</h2>
      <p className="muted">
        A refill waiting for this card, or a push an interruption left half done, goes to the card now. Keep the card in
        the reader until it is done.
      </p>
      {push.isPending ? <PushProgress progress={progress} /> : null}
      {outcome ? (
        <div className="banner banner-ok" role="status">
          {outcome.outcome === 'nothing-to-push'
            ? 'No list is waiting for this card.'
            : `List ${outcome.seq ?? ''} is active on the card${outcome.outcome === 'resumed' ? ' (finished an interrupted push)' : ''}.`}
          {outcome.lowCodesQueued ? ' The card was low on codes: a refill is queued.' : ''}
        </div>
      ) : null}
      <ErrorBanner error={push.error} />
      <button
        type="button"
        disabled={push.isPending}
        onClick={() => {
          resetProgress();
          push.mutate({ reader });
        }}
      >
        Push list
      </button>
    </section>
  );
}

function UnblockCard({ reader }: { reader: string }) {
  const [approving, setApproving] = useState(false);
  const unblock = useAction('activation:unblock', {
    onSuccess: () => setApproving(false),
    onError: (e) => {
      if (e.code === 'APPROVAL_REQUIRED') setApproving(true);
    },
  });
  return (
    <section aria-label="Unblock card">
      <h2>Unblock the card</h2>
      <p className="muted">
        RESET RETRY COUNTER under secure messaging. A second manager or security officer approves.
      </p>
      {unblock.isSuccess ? <div className="banner banner-ok">The card is unblocked.</div> : null}
      {!approving ? <ErrorBanner error={unblock.error} /> : null}
      <button type="button" className="danger" disabled={unblock.isPending} onClick={() => unblock.mutate({ reader })}>
        Unblock card
      </button>
      <ApprovalDialog
        open={approving}
        action="Unblock the card"
        approves="card.unblock"
        pending={unblock.isPending}
        error={approving && unblock.error?.code !== 'APPROVAL_REQUIRED' ? unblock.error : null}
        onApprove={(approval: Approval) => unblock.mutate({ reader, approval })}
        onClose={() => setApproving(false)}
      />
    </section>
  );
}

function RotateKey({ reader, keyVersion }: { reader: string; keyVersion: number }) {
  const [confirm, setConfirm] = useState(false);
  const rotate = useAction('cards:rotateKey');
  return (
    <section aria-label="Change card key">
      <h2>Change the card key</h2>
      <p className="muted">
        The new key K′ goes to the card under its current key. Afterwards the card refuses the old key, and the mailer’s
        key no longer serves.
      </p>
      {rotate.isSuccess ? (
        <div className="banner banner-ok" role="status">
          The card now holds key version {rotate.data.toVersion}.
        </div>
      ) : null}
      <ErrorBanner error={rotate.error} />
      <button type="button" disabled={rotate.isPending} onClick={() => setConfirm(true)}>
        Change card key
      </button>
      <ConfirmDialog
        open={confirm}
        title="Change the card key?"
        body={`Key version ${keyVersion} is replaced for good by version ${keyVersion + 1}. Keep the card in the reader until it is done.`}
        confirmLabel="Change key"
        danger
        onConfirm={() => rotate.mutate({ reader })}
        onClose={() => setConfirm(false)}
      />
    </section>
  );
}
