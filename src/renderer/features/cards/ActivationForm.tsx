import { useState } from 'react';
import type { useAction } from '../../api/client';
import { ErrorBanner, Field, Form, fieldError } from '../../ui/forms';
import { PushProgress, usePushProgress } from './PushProgress';

type Activation = ReturnType<typeof useAction<'activation:activate'>>;

/**
 * The cardholder types K from the mailer and chooses a PIN. The values go to main in the call and
 * are cleared from the form as it is sent; main never sends them back. Password fields with
 * autocomplete off: the browser neither shows them back nor keeps them.
 */
export function ActivationForm({
  reader,
  triesLeft,
  activate,
}: {
  reader: string;
  triesLeft: number;
  activate: Activation;
}) {
  const [key, setKey] = useState('');
  const [pin, setPin] = useState('');
  const [pinRepeat, setPinRepeat] = useState('');
  // The first list follows activation inside the same call; its push reports progress as any push.
  const [progress, resetProgress] = usePushProgress(reader);
  const submit = () => {
    const input = { reader, key, pin, pinRepeat };
    setKey('');
    setPin('');
    setPinRepeat('');
    resetProgress();
    activate.mutate(input);
  };
  const error = activate.error;
  if (activate.data) return <ActivationOutcome outcome={activate.data} />;
  return (
    <Form label="Activate card" onSubmit={submit}>
      <h2>Activate the card</h2>
      <p className="muted">
        The cardholder types the activation key from the mailer (7 groups of 5 characters) and chooses a PIN of 4 to 8
        digits. A typo is caught before the card is used; a wrong key costs one of the card’s tries ({triesLeft} left).
      </p>
      <ErrorBanner error={error} />
      {activate.isPending ? <PushProgress progress={progress} /> : null}
      <Field
        label="Activation key from the mailer"
        name="activationKey"
        type="password"
        autoComplete="off"
        spellCheck={false}
        autoCapitalize="characters"
        autoFocus
        value={key}
        onChange={(e) => setKey(e.target.value)}
        error={fieldError(error, 'key')}
      />
      <Field
        label="New PIN"
        name="newPin"
        type="password"
        inputMode="numeric"
        autoComplete="off"
        value={pin}
        onChange={(e) => setPin(e.target.value)}
        error={fieldError(error, 'pin')}
      />
      <Field
        label="Repeat PIN"
        name="newPinRepeat"
        type="password"
        inputMode="numeric"
        autoComplete="off"
        value={pinRepeat}
        onChange={(e) => setPinRepeat(e.target.value)}
        error={fieldError(error, 'pinRepeat')}
      />
      <button type="submit" className="primary" disabled={activate.isPending || key === '' || pin === ''}>
        Activate
      </button>
    </Form>
  );
}

/**
 * What activation did, and what followed it. A first list that did not reach the card never undoes
 * the activation: the list stays queued and goes to the card at its next presentation.
 */
function ActivationOutcome({ outcome }: { outcome: NonNullable<Activation['data']> }) {
  const failed = outcome.followUps.filter((f) => !f.ok);
  return (
    <section aria-label="Activation result">
      <h2>Card activated</h2>
      <div className="banner banner-ok" role="status" data-testid="activation-outcome">
        {outcome.completedEarlier ? 'The card was already active.' : 'The card is active.'}
        {outcome.followUps
          .filter((f) => f.ok)
          .map((f) => ` ${f.name}: ${f.message}`)
          .join('')}
      </div>
      {failed.map((f) => (
        <div className="banner banner-error" role="alert" key={f.name} data-testid="activation-follow-up-failed">
          The card is active, but the {f.name} did not reach it: {f.message} The list waits for the card: present it
          again and choose Push list on this page; nothing needs to be activated again.
        </div>
      ))}
    </section>
  );
}
