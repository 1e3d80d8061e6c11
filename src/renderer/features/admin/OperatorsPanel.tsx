import { useState } from 'react';
import type { OperatorInfo } from '../../../shared/contract/admin.contract';
import type { Approval } from '../../../shared/contract/approval.contract';
import type { SessionInfo } from '../../../shared/contract/auth.contract';
import { ROLES, ROLE_LABELS, type Role } from '../../../shared/roles';
import type { CallError } from '../../api/client';
import { useAction, useCall } from '../../api/client';
import { ApprovalDialog, ConfirmDialog, FormActions, Modal } from '../../ui/dialogs';
import { ErrorBanner, Field, Form, fieldError } from '../../ui/forms';
import { useApprovedSecretAction } from '../keys/use-secret-action';

/** The state of a call that may need a second security officer (changes to managers and officers). */
interface ApprovalFlow {
  approving: boolean;
  pending: boolean;
  approvalError: CallError | null;
  approve: (approval: Approval) => void;
  cancel: () => void;
}

/** Opens when main answers APPROVAL_REQUIRED for a change to a manager's or security officer's account. */
function PrivilegedApproval({ flow, action }: { flow: ApprovalFlow; action: string }) {
  return (
    <ApprovalDialog
      open={flow.approving}
      action={action}
      approves="operator.privileged"
      pending={flow.pending}
      error={flow.approvalError}
      onApprove={flow.approve}
      onClose={flow.cancel}
    />
  );
}

export function OperatorsPanel({ session }: { session: SessionInfo }) {
  const list = useCall('admin:listOperators', {});
  const [filter, setFilter] = useState('');
  const [confirm, setConfirm] = useState<{ op: OperatorInfo; kind: 'disable' | 'enable' } | null>(null);
  const [reset, setReset] = useState<OperatorInfo | null>(null);
  const [unlock, setUnlock] = useState<OperatorInfo | null>(null);
  const disable = useApprovedSecretAction('admin:disableOperator');
  const enable = useApprovedSecretAction('admin:enableOperator');
  const role = useApprovedSecretAction('admin:updateRole');
  const unlockAction = useAction('admin:unlockOperator', { onSuccess: () => setUnlock(null) });
  const error = disable.formError ?? enable.formError ?? role.formError ?? list.error;

  const shown = (list.data?.operators ?? []).filter((o) =>
    `${o.username} ${o.displayName} ${o.role}`.toLowerCase().includes(filter.toLowerCase()),
  );
  return (
    <section aria-label="Operators">
      <h2>Operators</h2>
      <ErrorBanner error={error} />
      <div className="toolbar">
        <Field label="Search operators" name="search" value={filter} onChange={(e) => setFilter(e.target.value)} />
      </div>
      {list.data && shown.length === 0 ? <div className="empty-state">No operator matches “{filter}”.</div> : null}
      {shown.length > 0 ? (
        <table className="grid" aria-label="Operator list">
          <thead>
            <tr>
              <th>User name</th>
              <th>Name</th>
              <th>Role</th>
              <th>State</th>
              <th>Actions</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((o) => (
              <tr key={o.id} data-username={o.username}>
                <td>{o.username}</td>
                <td>{o.displayName}</td>
                <td>
                  {o.id === session.operatorId ? (
                    ROLE_LABELS[o.role]
                  ) : (
                    <select
                      aria-label={`Role of ${o.username}`}
                      value={o.role}
                      onChange={(e) => {
                        const to = e.target.value as Role;
                        role.start((approval) => ({ operatorId: o.id, role: to, ...(approval ? { approval } : {}) }));
                      }}
                    >
                      {ROLES.map((r) => (
                        <option key={r} value={r}>
                          {ROLE_LABELS[r]}
                        </option>
                      ))}
                    </select>
                  )}
                </td>
                <td>{stateOf(o)}</td>
                <td>
                  <div className="row-actions">
                    {o.locked ? (
                      <button type="button" onClick={() => setUnlock(o)}>
                        Unlock
                      </button>
                    ) : null}
                    {o.id !== session.operatorId ? (
                      <>
                        <button type="button" onClick={() => setReset(o)}>
                          Reset password
                        </button>
                        <button
                          type="button"
                          onClick={() => setConfirm({ op: o, kind: o.disabled ? 'enable' : 'disable' })}
                        >
                          {o.disabled ? 'Enable' : 'Disable'}
                        </button>
                      </>
                    ) : null}
                  </div>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      <CreateOperatorForm />
      <ConfirmDialog
        open={confirm !== null}
        title={
          confirm?.kind === 'disable' ? `Disable ${confirm.op.username}?` : `Enable ${confirm?.op.username ?? ''}?`
        }
        body={
          confirm?.kind === 'disable'
            ? 'They are signed out everywhere and cannot sign in until enabled again.'
            : 'They can sign in again.'
        }
        confirmLabel={confirm?.kind === 'disable' ? 'Disable' : 'Enable'}
        danger={confirm?.kind === 'disable'}
        onConfirm={() => {
          if (!confirm) return;
          const operatorId = confirm.op.id;
          (confirm.kind === 'disable' ? disable : enable).start((approval) => ({
            operatorId,
            ...(approval ? { approval } : {}),
          }));
        }}
        onClose={() => setConfirm(null)}
      />
      <ResetPasswordDialog op={reset} onClose={() => setReset(null)} />
      <PrivilegedApproval flow={role} action="Change the role of a manager or security officer" />
      <PrivilegedApproval flow={disable} action="Disable a manager or security officer" />
      <PrivilegedApproval flow={enable} action="Enable a manager or security officer" />
      <ApprovalDialog
        open={unlock !== null}
        action={`Unlock ${unlock?.username ?? ''}`}
        approves="operator.unlock"
        pending={unlockAction.isPending}
        error={unlockAction.error}
        onApprove={(approval) => unlock && unlockAction.mutate({ username: unlock.username, approval })}
        onClose={() => {
          setUnlock(null);
          unlockAction.reset();
        }}
      />
    </section>
  );
}

function stateOf(o: OperatorInfo): string {
  if (o.disabled) return 'disabled';
  if (o.locked) return `locked (${o.failedAttempts} wrong passwords)`;
  if (o.mustChangePassword) return 'must change password';
  return 'active';
}

function CreateOperatorForm() {
  const empty = { username: '', displayName: '', role: 'clerk' as Role, temporaryPassword: '' };
  const [form, setForm] = useState(empty);
  const [created, setCreated] = useState<string | null>(null);
  const create = useApprovedSecretAction('admin:createOperator', (op) => {
    setForm(empty);
    setCreated(op.username);
  });
  return (
    <>
      <Form
        label="Create operator"
        onSubmit={() => {
          setCreated(null);
          create.start((approval) => ({ ...form, ...(approval ? { approval } : {}) }));
        }}
      >
        <h2>Create operator</h2>
        <ErrorBanner error={create.formError} />
        {created ? (
          <div className="banner banner-ok">
            Operator {created} created. They must change the password at first sign-in.
          </div>
        ) : null}
        <div className="form-row">
          <Field
            label="User name"
            name="newUsername"
            value={form.username}
            onChange={(e) => setForm({ ...form, username: e.target.value })}
            error={fieldError(create.formError, 'username')}
          />
          <Field
            label="Full name"
            name="newDisplayName"
            value={form.displayName}
            onChange={(e) => setForm({ ...form, displayName: e.target.value })}
            error={fieldError(create.formError, 'displayName')}
          />
          <div className="field">
            <label htmlFor="new-role">Role</label>
            <select
              id="new-role"
              value={form.role}
              onChange={(e) => setForm({ ...form, role: e.target.value as Role })}
            >
              {ROLES.map((r) => (
                <option key={r} value={r}>
                  {ROLE_LABELS[r]}
                </option>
              ))}
            </select>
          </div>
          <Field
            label="Temporary password"
            name="temporaryPassword"
            type="password"
            autoComplete="new-password"
            hint="At least 12 characters; changed at first sign-in."
            value={form.temporaryPassword}
            onChange={(e) => setForm({ ...form, temporaryPassword: e.target.value })}
            error={fieldError(create.formError, 'temporaryPassword')}
          />
        </div>
        <button type="submit" className="primary" disabled={create.pending}>
          Create operator
        </button>
      </Form>
      <PrivilegedApproval flow={create} action={`Create ${form.username} (${ROLE_LABELS[form.role]})`} />
    </>
  );
}

function ResetPasswordDialog({ op, onClose }: { op: OperatorInfo | null; onClose: () => void }) {
  const [password, setPassword] = useState('');
  const reset = useApprovedSecretAction('admin:resetPassword', () => {
    setPassword('');
    onClose();
  });
  return (
    <Modal open={op !== null} onClose={onClose} label="Reset password">
      <h2>Reset password of {op?.username}</h2>
      <p className="muted">They are signed out and must choose a new password at their next sign-in.</p>
      <Form
        label="Reset password"
        onSubmit={() => {
          if (!op) return;
          const input = { operatorId: op.id, temporaryPassword: password };
          reset.start((approval) => ({ ...input, ...(approval ? { approval } : {}) }));
        }}
      >
        <ErrorBanner error={reset.formError} />
        <Field
          label="Temporary password"
          name="resetPassword"
          type="password"
          autoFocus
          autoComplete="new-password"
          value={password}
          onChange={(e) => setPassword(e.target.value)}
        />
        <FormActions onCancel={onClose} submitLabel="Reset password" pending={reset.pending} danger />
      </Form>
      <PrivilegedApproval flow={reset} action={`Reset the password of ${op?.username ?? ''}`} />
    </Modal>
  );
}
