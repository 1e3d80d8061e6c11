import { useRef, useState } from 'react';
import type { BackupInfoView } from '../../../shared/contract/keys.contract';
import { useCall } from '../../api/client';
import { ApprovalDialog, ConfirmDialog, FormActions, Modal } from '../../ui/dialogs';
import { ErrorBanner, Field, Form } from '../../ui/forms';
import { CustodianApprovalDialog } from './CustodianApprovalDialog';
import { useApprovedSecretAction } from './use-secret-action';
import { NewPassphraseFields } from './NewPassphraseFields';

const sizeLabel = (bytes: number) => (bytes < 1024 ? `${bytes} bytes` : `${(bytes / 1024).toFixed(1)} KiB`);

/**
 * Encrypted backups of the keystore. Main keeps them in its own folder and names them; the page
 * lists them and picks one by name. Backup passphrases are typed here, cleared on submit and never
 * shown back. (Copying a backup to removable media is a later step: a save dialog in main.)
 */
export function KeyBackups() {
  const list = useCall('keys:backupList', {});
  const backups = list.data?.backups ?? [];
  const [target, setTarget] = useState<BackupInfoView | null>(null);
  const [restored, setRestored] = useState<{ fileName: string; restoredKeys: number } | null>(null);
  return (
    <section aria-label="Backups">
      <h2>Backups</h2>
      <p className="muted">
        An encrypted copy of every key on this desk for two custodians: the officer who makes it and the officer who
        approves it each choose a backup passphrase of their own, and the backup opens only with both together. Keep
        each passphrase apart from the keystore passphrase and from the other custodian.
      </p>
      <ErrorBanner error={list.error} />
      {restored ? (
        <div className="banner banner-ok" data-testid="backup-restored">
          Backup {restored.fileName} restored: the keystore now holds its {restored.restoredKeys} keys.
        </div>
      ) : null}
      {list.data && backups.length === 0 ? <div className="empty-state">No backups on this desk yet.</div> : null}
      {backups.length > 0 ? (
        <table className="grid" aria-label="Backup files">
          <thead>
            <tr>
              <th>File</th>
              <th>Created</th>
              <th>Size</th>
              <th>Custodians</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {backups.map((b) => (
              <tr key={b.fileName} data-file={b.fileName}>
                <td className="mono">{b.fileName}</td>
                <td>{new Date(b.createdAt).toLocaleString()}</td>
                <td>{sizeLabel(b.sizeBytes)}</td>
                <td>{b.custodians.length === 2 ? b.custodians.join(' and ') : 'unreadable'}</td>
                <td>
                  <button
                    type="button"
                    onClick={() => {
                      setRestored(null);
                      setTarget(b);
                    }}
                  >
                    Restore…
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      <CreateBackup />
      {target ? (
        <RestoreBackup
          backup={target}
          onClose={() => setTarget(null)}
          onRestored={(out) => {
            setTarget(null);
            setRestored({ fileName: target.fileName, restoredKeys: out.restoredKeys });
          }}
        />
      ) : null}
    </section>
  );
}

function CreateBackup() {
  const [passphrase, setPassphrase] = useState('');
  const [repeat, setRepeat] = useState('');
  const [mismatch, setMismatch] = useState(false);
  const [written, setWritten] = useState<BackupInfoView | null>(null);
  const create = useApprovedSecretAction('keys:backupCreate', setWritten);
  return (
    <>
      <Form
        label="Create backup"
        onSubmit={() => {
          if (passphrase !== repeat) return setMismatch(true);
          setMismatch(false);
          setWritten(null);
          const p = passphrase;
          setPassphrase('');
          setRepeat('');
          create.start((approval, approverPassphrase) => ({
            passphrase: p,
            ...(approval ? { approval } : {}),
            ...(approverPassphrase !== undefined ? { approverPassphrase } : {}),
          }));
        }}
      >
        <h3>Create a backup</h3>
        {written ? (
          <div className="banner banner-ok" data-testid="backup-written">
            Backup {written.fileName} written.
          </div>
        ) : null}
        <ErrorBanner error={create.formError} />
        <NewPassphraseFields
          repeatLabel="Repeat your backup passphrase"
          label="Your backup passphrase"
          name="backupPassphrase"
          hint="At least 12 characters, known only to you; not the keystore passphrase."

          value={passphrase}
          repeat={repeat}
          mismatch={mismatch}
          onChange={setPassphrase}
          onRepeatChange={setRepeat}
        />
        <button type="submit" disabled={create.pending}>
          Create backup…
        </button>
      </Form>
      <CustodianApprovalDialog
        open={create.approving}
        action="Back up the keystore"
        approves="keys.backup"
        pending={create.pending}
        error={create.approvalError}
        onApprove={create.approve}
        onClose={create.cancel}
      />
    </>
  );
}

/** Confirm, then each custodian's backup passphrase, then the second approver. */
function RestoreBackup(props: {
  backup: BackupInfoView;
  onClose: () => void;
  onRestored: (out: { restoredKeys: number }) => void;
}) {
  const [confirmed, setConfirmed] = useState(false);
  // ConfirmDialog calls onClose after onConfirm too; only a cancel ends the restore.
  const confirming = useRef(false);
  const [passphrases, setPassphrases] = useState<[string, string]>(['', '']);
  const restore = useApprovedSecretAction('keys:backupRestore', props.onRestored);
  const { fileName, custodians } = props.backup;
  const close = () => {
    setPassphrases(['', '']);
    restore.cancel();
    props.onClose();
  };
  return (
    <>
      <ConfirmDialog
        open={!confirmed}
        title="Restore this backup?"
        body={
          <p>
            This replaces every key on this desk with the backup&apos;s keys ({fileName}, made{' '}
            {new Date(props.backup.createdAt).toLocaleString()}). Keys made since then are gone. The keystore keeps its
            current passphrase.
          </p>
        }
        confirmLabel="Replace the keys…"
        danger
        onConfirm={() => {
          confirming.current = true;
          setConfirmed(true);
        }}
        onClose={() => {
          if (!confirming.current) props.onClose();
        }}
      />
      <Modal open={confirmed} onClose={close} label="Restore backup">
        <Form
          label="Restore backup"
          onSubmit={() => {
            const custodianPassphrases = passphrases;
            setPassphrases(['', '']);
            restore.start((approval) => ({ fileName, custodianPassphrases, ...(approval ? { approval } : {}) }));
          }}
        >
          <h2>Restore {fileName}</h2>
          <p className="muted">Each custodian types their own backup passphrase.</p>
          <ErrorBanner error={restore.formError} />
          {([0, 1] as const).map((i) => (
            <Field
              key={i}
              label={`Backup passphrase of ${custodians[i] ?? `custodian ${i + 1}`}`}
              name={`restorePassphrase${i + 1}`}
              type="password"
              autoComplete="off"
              autoFocus={i === 0}
              value={passphrases[i]}
              onChange={(e) => {
                const typed = e.target.value;
                setPassphrases((p) => (i === 0 ? [typed, p[1]] : [p[0], typed]));
              }}
            />
          ))}
          <FormActions onCancel={close} submitLabel="Restore backup" pending={restore.pending} danger />
        </Form>
      </Modal>
      <ApprovalDialog
        open={restore.approving}
        action={`Restore backup ${fileName}`}
        approves="keys.restore"
        pending={restore.pending}
        error={restore.approvalError}
        onApprove={restore.approve}
        onClose={restore.cancel}
      />
    </>
  );
}
