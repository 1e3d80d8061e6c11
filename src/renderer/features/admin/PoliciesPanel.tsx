import { useState } from 'react';
import {
  DUAL_CONTROL_ACTIONS,
  MANDATORY_DUAL_CONTROL,
  PASSKEY_ALPHABETS,
  type PolicyValues,
} from '../../../shared/contract/policy.contract';
import { useAction, useCall } from '../../api/client';
import { ApprovalDialog } from '../../ui/dialogs';
import { ErrorBanner, Field, fieldError } from '../../ui/forms';

type NumberKey = {
  [K in keyof PolicyValues]: PolicyValues[K] extends number ? K : never;
}[keyof PolicyValues];

const NUMBER_FIELDS: [NumberKey, string][] = [
  ['listLength', 'Codes per list'],
  ['codeDigits', 'Code digits'],
  ['refillThreshold', 'Refill when unused codes fall to'],
  ['verifyLookAhead', 'Codes accepted ahead of the next expected one'],
  ['listExpiryDays', 'List expiry (days)'],
  ['emergencyListLength', 'Codes on an emergency sheet (card in the post)'],
  ['emergencyListDays', 'Emergency sheet validity (days)'],
  ['pinRetries', 'PIN retries'],
  ['activationRetries', 'Activation retries (wrong K)'],
  ['passkeyLength', 'Passkey length'],
  ['passkeyMaxFailures', 'Passkey failures before lockout'],
  ['passkeyMaxSends', 'Passkeys sent per case'],
  ['passkeyLifetimeMinutes', 'Passkey lifetime (minutes)'],
  ['maxFailedSignIns', 'Wrong passwords before lockout'],
  ['lockoutMinutes', 'Lockout (minutes; doubles with each repeat)'],
  ['lockoutMaxMinutes', 'Longest lockout (minutes)'],
  ['sessionTimeoutMinutes', 'Session timeout (minutes)'],
  ['auditCheckpointEvery', 'Audit entries between signed checkpoints'],
  ['approverResetWindowHours', 'Hours before a password someone else set may approve'],
];

export function PoliciesPanel() {
  const current = useCall('policy:get', {});
  const [draft, setDraft] = useState<PolicyValues | null>(null);
  const [approving, setApproving] = useState(false);
  const update = useAction('policy:update', {
    onSuccess: () => {
      setApproving(false);
      setDraft(null);
    },
  });
  if (!current.data) return <ErrorBanner error={current.error} />;
  const values = draft ?? current.data.policies;
  const edit = (patch: Partial<PolicyValues>) => setDraft({ ...values, ...patch });
  const formError = approving ? null : update.error;

  return (
    <section aria-label="Policies">
      <h2>Policies</h2>
      <p className="muted">
        Version {current.data.version}
        {current.data.changedBy
          ? `, changed by ${current.data.changedBy} and approved by ${current.data.approvedBy ?? '—'}`
          : ' (built-in defaults)'}
        . Saving needs a second approver.
      </p>
      {update.isSuccess ? (
        <div className="banner banner-ok">Policies saved as version {update.data.version}.</div>
      ) : null}
      <ErrorBanner error={formError} />
      <div className="form-grid">
        {NUMBER_FIELDS.map(([key, label]) => (
          <Field
            key={key}
            label={label}
            name={key}
            type="number"
            value={String(values[key])}
            onChange={(e) => edit({ [key]: Number(e.target.value) })}
            error={fieldError(update.error, `policies.${key}`)}
          />
        ))}
        <div className="field">
          <label htmlFor="passkey-alphabet">Passkey alphabet</label>
          <select
            id="passkey-alphabet"
            value={values.passkeyAlphabet}
            onChange={(e) => edit({ passkeyAlphabet: e.target.value as PolicyValues['passkeyAlphabet'] })}
          >
            {PASSKEY_ALPHABETS.map((a) => (
              <option key={a}>{a}</option>
            ))}
          </select>
        </div>
      </div>
      <h3>Actions under dual control</h3>
      <table className="grid" aria-label="Dual control">
        <tbody>
          {DUAL_CONTROL_ACTIONS.map((action) => {
            const rule = values.dualControl[action];
            const mandatory = MANDATORY_DUAL_CONTROL.includes(action);
            return (
              <tr key={action}>
                <td>{action}</td>
                <td>
                  <label>
                    <input
                      type="checkbox"
                      checked={rule.required}
                      disabled={mandatory}
                      onChange={(e) =>
                        edit({
                          dualControl: { ...values.dualControl, [action]: { ...rule, required: e.target.checked } },
                        })
                      }
                    />{' '}
                    {mandatory ? 'always required' : 'required'}
                  </label>
                </td>
                <td className="muted">approved by: {rule.approverRoles.join(', ')}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
      <div className="actions">
        <button type="button" disabled={!draft} onClick={() => setDraft(null)}>
          Discard changes
        </button>
        <button type="button" className="primary" disabled={!draft} onClick={() => setApproving(true)}>
          Save policies…
        </button>
      </div>
      <ApprovalDialog
        open={approving}
        action="Change policies"
        approves="policy.update"
        pending={update.isPending}
        error={approving ? update.error : null}
        onApprove={(approval) => update.mutate({ baseVersion: current.data.version, policies: values, approval })}
        onClose={() => setApproving(false)}
      />
    </section>
  );
}
