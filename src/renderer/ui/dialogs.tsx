import { useEffect, useRef, useState, type ReactNode } from 'react';
import type { Approval } from '../../shared/contract/approval.contract';
import type { DualControlAction } from '../../shared/contract/policy.contract';
import { call, CallError } from '../api/client';
import { ErrorBanner, Field, Form } from './forms';

/** A modal that traps focus (native <dialog>), closes on Escape, and returns focus afterwards. */
export function Modal(props: { open: boolean; onClose: () => void; label: string; children: ReactNode }) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (props.open && !d.open) d.showModal();
    if (!props.open && d.open) d.close();
  }, [props.open]);
  return (
    <dialog ref={ref} aria-label={props.label} onClose={props.onClose} onCancel={props.onClose}>
      {props.open ? props.children : null}
    </dialog>
  );
}

/** Asks before a destructive or security-relevant action. */
/** The footer of a form in a dialog: Cancel, and the submit button (disabled while the call runs). */
export function FormActions(props: { onCancel: () => void; submitLabel: string; pending: boolean; danger?: boolean }) {
  return (
    <div className="actions">
      <button type="button" onClick={props.onCancel}>
        Cancel
      </button>
      <button type="submit" className={props.danger ? 'danger' : 'primary'} disabled={props.pending}>
        {props.submitLabel}
      </button>
    </div>
  );
}

export function ConfirmDialog(props: {
  open: boolean;
  title: string;
  body: ReactNode;
  confirmLabel: string;
  danger?: boolean;
  onConfirm: () => void;
  onClose: () => void;
}) {
  return (
    <Modal open={props.open} onClose={props.onClose} label={props.title}>
      <h2>{props.title}</h2>
      <div>{props.body}</div>
      <div className="actions">
        <button type="button" onClick={props.onClose}>
          Cancel
        </button>
        <button
          type="button"
          className={props.danger ? 'danger' : 'primary'}
          autoFocus
          onClick={() => {
            props.onConfirm();
            props.onClose();
          }}
        >
          {props.confirmLabel}
        </button>
      </div>
    </Modal>
  );
}

/** The second operator's user name and password, typed blind (never kept after submit). */
export function ApproverFields(props: {
  username: string;
  password: string;
  onUsername: (value: string) => void;
  onPassword: (value: string) => void;
}) {
  return (
    <>
      <Field
        label="Approver user name"
        name="approver"
        autoFocus
        autoComplete="off"
        value={props.username}
        onChange={(e) => props.onUsername(e.target.value)}
      />
      <Field
        label="Approver password"
        name="approverPassword"
        type="password"
        autoComplete="off"
        value={props.password}
        onChange={(e) => props.onPassword(e.target.value)}
      />
    </>
  );
}

/** The approver's credentials with a fresh single-use challenge for `action` (approval:begin). */
export async function withChallenge(
  action: DualControlAction,
  typed: { username: string; password: string },
): Promise<Approval> {
  const { challenge } = await call('approval:begin', { action });
  return { username: typed.username, password: typed.password, challenge }; // nothing else typed rides along
}

/**
 * Dual control at the same desk: the second operator types their own credentials here.
 * They go to main with the action and are never shown or kept by the renderer afterwards.
 * Each approval takes a fresh single-use challenge for `approves` (the dual-control action), so
 * main applies it to this one call only.
 */
export function ApprovalDialog(props: {
  open: boolean;
  action: string;
  approves: DualControlAction;
  pending: boolean;
  error: CallError | null;
  onApprove: (approval: Approval) => void;
  onClose: () => void;
}) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [beginError, setBeginError] = useState<CallError | null>(null);
  const close = () => {
    setPassword('');
    setUsername('');
    setBeginError(null);
    props.onClose();
  };
  const approve = async () => {
    const typed = { username, password };
    setPassword('');
    try {
      const approval = await withChallenge(props.approves, typed);
      setBeginError(null);
      props.onApprove(approval);
    } catch (err) {
      if (err instanceof CallError) setBeginError(err);
      else throw err;
    }
  };
  return (
    <Modal open={props.open} onClose={close} label="Second approver">
      <h2>Second approver needed</h2>
      <p className="muted">
        <strong>{props.action}</strong> needs a second operator. They sign here with their own credentials.
      </p>
      <Form label="Approve" onSubmit={() => void approve()}>
        <ErrorBanner error={beginError ?? props.error} />
        <ApproverFields username={username} password={password} onUsername={setUsername} onPassword={setPassword} />
        <FormActions onCancel={close} submitLabel="Approve" pending={props.pending} />
      </Form>
    </Modal>
  );
}
