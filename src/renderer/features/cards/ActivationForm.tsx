import { useState } from 'react';
import { useAction } from '../../api/client';
import { ErrorBanner, Field, Form, fieldError } from '../../ui/forms';

/**
 * The cardholder types K from the mailer and chooses a PIN. The values go to main in the call and
 * are cleared from the form as it is sent; main never sends them back. Password fields with
 * autocomplete off: the browser neither shows them back nor keeps them.
 */
export function ActivationForm({ reader, triesLeft }: { reader: string; triesLeft: number }) {
  const [key, setKey] = useState('');
  const [pin, setPin] = useState('');
  const [pinRepeat, setPinRepeat] = useState('');
  const activate = useAction('activation:activate');
  const submit = () => {
    const input = { reader, key, pin, pinRepeat };
    setKey('');
    setPin('');
    setPinRepeat('');
    activate.mutate(input);
  };
  const error = activate.error;
  return (
    <Form label="Activate card" onSubmit={submit}>
      <h2>Activate the card</h2>
      <p className="muted">
        The cardholder types the activation key from the mailer (7 groups of 5 characters) and chooses a PIN of 4 to 8
        digits. A typo is caught before the card is used; a wrong key costs one of the card’s tries ({triesLeft} left).
      </p>
      {activate.isSuccess ? (
        <div className="banner banner-ok" role="status">
          {activate.data.completedEarlier ? 'The card was already active.' : 'The card is active.'}
          {activate.data.followUps.map((f) => ` ${f.name}: ${f.message}`).join('')}
        </div>
      ) : null}
      <ErrorBanner error={error} />
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
