import { useState } from 'react';
import type { KeystoreStatusInfo } from '../../../shared/contract/keys.contract';
import { useAction, useCall } from '../../api/client';
import { ConfirmDialog } from '../../ui/dialogs';
import { ErrorBanner, Field, Form } from '../../ui/forms';
import { CardKeyPanel } from './CardKeyPanel';
import { CeremonyWizard } from './CeremonyWizard';
import { KeyActions } from './KeyActions';
import { KeyBackups } from './KeyBackups';
import { KeyTable } from './KeyTable';
import { useSecretAction } from './use-secret-action';
import { NewPassphraseFields } from './NewPassphraseFields';
import { TransportKeyPanel } from './TransportKeyPanel';

export function KeysPage() {
  const status = useCall('keys:status', {});
  const s = status.data;
  return (
    <section className="page" aria-label="Keys">
      <h1>Keys</h1>
      <ErrorBanner error={status.error} />
      {s ? <KeystorePanel status={s} /> : null}
      {s?.state === 'unlocked' ? (
        <>
          <KeyTable />
          <CeremonyWizard status={s} />
          <TransportKeyPanel status={s} />
          <KeyActions status={s} />
          <KeyBackups />
          <CardKeyPanel />
        </>
      ) : null}
    </section>
  );
}

const BACKEND_LABEL = { software: 'encrypted file on this desk', pkcs11: 'HSM token (PKCS#11)' } as const;

/** Create (first run), unlock or lock the keystore. Nothing is unlocked when the app starts. */
function KeystorePanel({ status }: { status: KeystoreStatusInfo }) {
  if (status.state === 'not-created') return <CreateKeystoreForm />;
  if (status.state === 'locked') return <UnlockForm backend={status.backend} />;
  return <UnlockedBar status={status} />;
}

function CreateKeystoreForm() {
  const [passphrase, setPassphrase] = useState('');
  const [repeat, setRepeat] = useState('');
  const [mismatch, setMismatch] = useState(false);
  const create = useSecretAction('keys:create');
  return (
    <Form
      label="Create keystore"
      onSubmit={() => {
        if (passphrase !== repeat) return setMismatch(true);
        setMismatch(false);
        const p = passphrase;
        setPassphrase('');
        setRepeat('');
        void create.run({ passphrase: p });
      }}
    >
      <h2>Create the keystore</h2>
      <p className="muted">
        This desk has no keystore yet. Its passphrase protects every key on this desk: keep it as you keep the safe
        combination. Without it the keys cannot be opened.
      </p>
      <ErrorBanner error={create.error} />
      <NewPassphraseFields
        repeatLabel="Repeat passphrase"
        label="Keystore passphrase"
        name="keystorePassphrase"
        hint="At least 12 characters."
        autoFocus
        value={passphrase}
        repeat={repeat}
        mismatch={mismatch}
        onChange={setPassphrase}
        onRepeatChange={setRepeat}
      />
      <button type="submit" className="primary" disabled={create.pending}>
        Create keystore
      </button>
    </Form>
  );
}

function UnlockForm({ backend }: { backend: KeystoreStatusInfo['backend'] }) {
  const [secret, setSecret] = useState('');
  const unlock = useSecretAction('keys:unlock');
  const label = backend === 'pkcs11' ? 'Token PIN' : 'Keystore passphrase';
  return (
    <Form
      label="Unlock keystore"
      onSubmit={() => {
        const p = secret;
        setSecret('');
        void unlock.run({ passphrase: p });
      }}
    >
      <h2>Keystore locked</h2>
      <p className="muted">
        The keystore ({BACKEND_LABEL[backend]}) is locked. Card work that needs keys waits until a security officer
        unlocks it.
      </p>
      <ErrorBanner error={unlock.error} />
      <Field
        label={label}
        name="unlockSecret"
        type="password"
        autoComplete="off"
        autoFocus
        value={secret}
        onChange={(e) => setSecret(e.target.value)}
      />
      <button type="submit" className="primary" disabled={unlock.pending}>
        Unlock keystore
      </button>
    </Form>
  );
}

function UnlockedBar({ status }: { status: KeystoreStatusInfo }) {
  const [confirm, setConfirm] = useState(false);
  const lock = useAction('keys:lock');
  return (
    <div className="toolbar" aria-label="Keystore state">
      <p data-testid="keystore-state">
        Keystore unlocked ({BACKEND_LABEL[status.backend]}).{' '}
        {status.masterKey
          ? `Master key version ${status.masterKey.version}, KCV ${status.masterKey.kcv}.`
          : 'No master key yet.'}
      </p>
      <ErrorBanner error={lock.error} />
      <button
        type="button"
        onClick={() => (status.ceremony || status.transportCeremony ? setConfirm(true) : lock.mutate({}))}
        disabled={lock.isPending}
      >
        Lock keystore
      </button>
      <ConfirmDialog
        open={confirm}
        title="Lock during the ceremony?"
        body="A key ceremony or transport key import is in progress. Locking aborts it and wipes the components entered so far; the custodians would start again."
        confirmLabel="Lock and abort"
        danger
        onConfirm={() => lock.mutate({})}
        onClose={() => setConfirm(false)}
      />
    </div>
  );
}
