import { useState } from 'react';
import { useAction } from '../../api/client';
import { ConfirmDialog } from '../../ui/dialogs';
import { ErrorBanner } from '../../ui/forms';

type SealMode = 'card-key' | 'public-key';

/**
 * Public-key mode per card (docs/push.md): the card makes its own RSA key pair and the desk keeps
 * the public key it proves; lists are then sealed for that key instead of K. Or back to K.
 */
export function SealModeForm({ reader, sealMode }: { reader: string; sealMode: SealMode }) {
  const [asked, setAsked] = useState<SealMode | null>(null);
  const change = useAction('cards:setSealMode');
  const inPublicKeyMode = sealMode === 'public-key';
  return (
    <section aria-label="How lists are sealed">
      <h2>How lists are sealed</h2>
      <p className="muted">
        {inPublicKeyMode
          ? 'Lists are sealed for the card’s own key pair. A new key pair replaces the one on record; card-key mode seals lists under the card key K again.'
          : 'Lists are sealed under the card key K. Public-key mode has the card make its own key pair and seals each list with a fresh session key for it.'}
      </p>
      {change.isSuccess ? (
        <div className="banner banner-ok" role="status">
          {change.data.sealMode === 'public-key'
            ? `Public-key mode: the card proved its key (fingerprint ${change.data.keyFingerprint ?? ''}).`
            : 'Card-key mode: lists are sealed under K.'}
        </div>
      ) : null}
      <ErrorBanner error={change.error} />
      <div className="actions">
        <button type="button" disabled={change.isPending} onClick={() => setAsked('public-key')}>
          {inPublicKeyMode ? 'New key pair' : 'Use public-key mode'}
        </button>
        {inPublicKeyMode ? (
          <button type="button" disabled={change.isPending} onClick={() => setAsked('card-key')}>
            Use card-key mode
          </button>
        ) : null}
      </div>
      <ConfirmDialog
        open={asked !== null}
        title={asked === 'public-key' ? 'Have the card make a key pair?' : 'Seal lists under K again?'}
        body={
          asked === 'public-key'
            ? 'The card makes a new RSA key pair, replacing any it holds, and lists are sealed for it from now on. A list on its way sealed for another key is withdrawn and replaced. Keep the card in the reader until it is done.'
            : 'Lists are sealed under the card key K from now on, and the card’s public key is no longer kept. A list on its way sealed for the old key is withdrawn and replaced.'
        }
        confirmLabel={asked === 'public-key' ? 'Make key pair' : 'Use card-key mode'}
        onConfirm={() => {
          if (asked) change.mutate({ reader, mode: asked });
        }}
        onClose={() => setAsked(null)}
      />
    </section>
  );
}
