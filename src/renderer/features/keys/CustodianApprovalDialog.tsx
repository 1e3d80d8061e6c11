import { useState } from 'react';
import type { Approval } from '../../../shared/contract/approval.contract';
import type { DualControlAction } from '../../../shared/contract/policy.contract';
import { CallError } from '../../api/client';
import { ApproverFields, FormActions, Modal, withChallenge } from '../../ui/dialogs';
import { ErrorBanner, Form } from '../../ui/forms';
import { NewPassphraseFields } from './NewPassphraseFields';

/**
 * The approval dialog of a backup: the second officer approves with their own credentials and, as
 * the backup's second custodian, chooses a backup passphrase of their own. Everything is typed
 * blind and cleared on submit. Like ApprovalDialog, each approval takes a fresh single-use
 * challenge for `approves`, so main applies it to this one call only.
 */
export function CustodianApprovalDialog(props: {
  open: boolean;
  action: string;
  approves: DualControlAction;
  pending: boolean;
  error: CallError | null;
  onApprove: (approval: Approval, passphrase: string) => void;
  onClose: () => void;
}) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [passphrase, setPassphrase] = useState('');
  const [repeat, setRepeat] = useState('');
  const [mismatch, setMismatch] = useState(false);
  const [beginError, setBeginError] = useState<CallError | null>(null);
  const clearSecrets = () => {
    setPassword('');
    setPassphrase('');
    setRepeat('');
  };
  const close = () => {
    clearSecrets();
    setUsername('');
    setMismatch(false);
    setBeginError(null);
    props.onClose();
  };
  return (
    <Modal open={props.open} onClose={close} label="Second approver">
      <h2>Second approver and custodian</h2>
      <p className="muted">
        <strong>{props.action}</strong> needs a second security officer. They sign here with their own credentials and
        choose a backup passphrase of their own: the backup opens only with both officers&apos; passphrases together.
      </p>
      <Form
        label="Approve"
        onSubmit={() => {
          if (passphrase !== repeat) {
            clearSecrets();
            return setMismatch(true);
          }
          setMismatch(false);
          const typed = { username, password, passphrase };
          clearSecrets();
          withChallenge(props.approves, { username: typed.username, password: typed.password }).then(
            (approval) => {
              setBeginError(null);
              props.onApprove(approval, typed.passphrase);
            },
            (err: unknown) => {
              if (err instanceof CallError) setBeginError(err);
              else throw err;
            },
          );
        }}
      >
        <ErrorBanner error={beginError ?? props.error} />
        <ApproverFields username={username} password={password} onUsername={setUsername} onPassword={setPassword} />
        <NewPassphraseFields
          label="Approver's backup passphrase"
          repeatLabel="Repeat approver's backup passphrase"
          name="approverBackupPassphrase"
          hint="At least 12 characters, known only to the approver."
          value={passphrase}
          repeat={repeat}
          mismatch={mismatch}
          onChange={setPassphrase}
          onRepeatChange={setRepeat}
        />
        <FormActions onCancel={close} submitLabel="Approve" pending={props.pending} />
      </Form>
    </Modal>
  );
}
