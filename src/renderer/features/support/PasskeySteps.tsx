import { useState } from 'react';
import type { Approval } from '../../../shared/contract/approval.contract';
import type { SessionInfo } from '../../../shared/contract/auth.contract';
import type { SupportCaseView } from '../../../shared/contract/support.contract';
import { useAction } from '../../api/client';
import { ApprovalDialog } from '../../ui/dialogs';
import { ErrorBanner, Field, Form, SelectField } from '../../ui/forms';
import { clock } from './support-labels';

// Steps 2–3 of the wizard: send a passkey to a registered contact, then type what the customer reads
// back. The typed passkey goes to main and is cleared at once; it is never shown or kept here.

type Channel = 'email' | 'sms';

const DOCUMENT_LABELS = {
  passport: 'Passport',
  identity_card: 'Identity card',
  driving_licence: 'Driving licence',
  residence_permit: 'Residence permit',
} as const;

export function SendPasskeyStep({ c, missing }: { c: SupportCaseView; missing: readonly string[] }) {
  const first: Channel = c.channels.email ? 'email' : 'sms';
  const [channel, setChannel] = useState<Channel>(first);
  const send = useAction('support:sendPasskey');
  const none = !c.channels.email && !c.channels.sms;
  const usedUp = c.passkeysSent >= c.maxPasskeys;
  const option = (ch: Channel, label: string, contact: string | null) => {
    const usable = c.channels[ch];
    const why = contact === null ? 'no registered contact' : 'not configured at this desk';
    return (
      <label className="radio" key={ch}>
        <input
          type="radio"
          name="passkey-channel"
          value={ch}
          checked={channel === ch}
          disabled={!usable}
          onChange={() => setChannel(ch)}
        />{' '}
        {label} {contact ? <span className="mono">{contact}</span> : null}
        {usable ? null : <span className="muted"> — {why}</span>}
      </label>
    );
  };
  return (
    <section aria-label="Send a passkey">
      <h3>{c.passkey ? 'Send a new passkey' : 'Send a passkey'}</h3>
      <p className="muted">
        The passkey goes only to a contact registered before the card was reported, never to one given on the phone now.
        It works once, for a limited time.
      </p>
      <p className="muted" data-testid="passkeys-sent">
        Passkeys sent in this case: {c.passkeysSent} of {c.maxPasskeys}.
      </p>
      <Form label="Send a passkey" onSubmit={() => send.mutate({ caseId: c.id, channel })}>
        <ErrorBanner error={send.error} />
        <fieldset>
          <legend>Channel</legend>
          {option('email', 'E-mail to', c.contacts.email)}
          {option('sms', 'SMS to', c.contacts.sms)}
        </fieldset>
        {none ? (
          <div className="banner banner-error" role="alert">
            No channel can reach this customer from this desk.{' '}
            {missing.length ? missing.join(' ') : 'Register an e-mail address or mobile number in person, with ID.'}
          </div>
        ) : null}
        {usedUp ? (
          <div className="banner banner-error" role="alert" data-testid="passkeys-used-up">
            All {c.maxPasskeys} passkeys of this case are sent; no more go to the customer. Ask them to read the last
            one while it is valid. When it has expired, a manager checks their identity document in person.
          </div>
        ) : null}
        <div className="actions">
          <button type="submit" className="primary" disabled={none || usedUp || send.isPending}>
            {c.passkey ? 'Send a new passkey' : 'Send passkey'}
          </button>
        </div>
      </Form>
    </section>
  );
}

export function EnterPasskeyStep({ c }: { c: SupportCaseView }) {
  const [typed, setTyped] = useState('');
  const enter = useAction('support:enterPasskey');
  const [resend, setResend] = useState(false);
  const p = c.passkey;
  const result = enter.data;
  return (
    <section aria-label="Enter the passkey">
      <h3>Enter the passkey</h3>
      {p ? (
        <p data-testid="passkey-sent">
          Sent by {p.channel === 'email' ? 'e-mail' : 'SMS'} to{' '}
          <span className="mono">{p.channel === 'email' ? c.contacts.email : c.contacts.sms}</span>; it expires at{' '}
          <strong>{clock(p.expiresAt)}</strong>.
        </p>
      ) : null}
      {p?.expired ? (
        <div className="banner banner-error" role="alert">
          This passkey has expired. Send a new one.
        </div>
      ) : null}
      {c.inboundAddress ? (
        <p className="muted">
          The customer may also send the passkey by e-mail from their registered address to{' '}
          <span className="mono">{c.inboundAddress}</span>; this page shows it as soon as it arrives.
        </p>
      ) : null}
      <Form
        label="Enter the passkey"
        onSubmit={() => {
          const passkey = typed;
          setTyped(''); // never kept, never shown again
          enter.mutate({ caseId: c.id, passkey });
        }}
      >
        <ErrorBanner error={enter.error} />
        {result && result.result === 'wrong' ? (
          <div className="banner banner-error" role="alert" data-testid="passkey-wrong">
            Wrong passkey. {result.attemptsLeft} attempt{result.attemptsLeft === 1 ? '' : 's'} left before the case is
            locked. Ask the customer to read it again, character by character.
          </div>
        ) : null}
        <Field
          label="Passkey the customer reads out"
          name="passkey"
          type="password"
          autoComplete="off"
          autoFocus
          spellCheck={false}
          value={typed}
          onChange={(e) => setTyped(e.target.value)}
          hint={`Wrong entries so far: ${c.failures} of ${c.maxFailures}.`}
        />
        <div className="actions">
          <button type="submit" className="primary" disabled={enter.isPending || typed.trim() === ''}>
            Check passkey
          </button>
          <button type="button" onClick={() => setResend((v) => !v)} aria-expanded={resend}>
            Resend…
          </button>
        </div>
      </Form>
      {resend ? <SendPasskeyStep c={c} missing={[]} /> : null}
    </section>
  );
}

export function LockedStep({ c, session }: { c: SupportCaseView; session: SessionInfo }) {
  const [documentType, setDocumentType] = useState<
    'passport' | 'identity_card' | 'driving_licence' | 'residence_permit'
  >('passport');
  const [documentRef, setDocumentRef] = useState('');
  const [approving, setApproving] = useState(false);
  const procedure = useAction('support:identityProcedure', { onSuccess: () => setApproving(false) });
  const submit = (approval: Approval) =>
    procedure.mutate({ caseId: c.id, documentType, documentRef: documentRef.trim(), approval });
  return (
    <section aria-label="Locked out">
      <h3>Locked out</h3>
      <div className="banner banner-error" role="alert" data-testid="case-locked">
        {c.state === 'locked'
          ? `${c.failures} wrong passkeys: this case is locked and no passkey is accepted.`
          : `All ${c.maxPasskeys} passkeys of this case were sent and none is valid any more; no more are sent.`}{' '}
        A manager must check the customer’s identity document in person and record it here, with a second manager
        approving. Then a new passkey is sent.
      </div>
      {session.role === 'manager' ? (
        <Form label="Identity procedure" onSubmit={() => setApproving(true)}>
          <ErrorBanner error={approving ? null : procedure.error} />
          <SelectField
            label="Identity document checked"
            value={documentType}
            options={DOCUMENT_LABELS}
            onChange={setDocumentType}
          />
          <Field
            label="Document number"
            name="documentRef"
            autoComplete="off"
            maxLength={64}
            value={documentRef}
            onChange={(e) => setDocumentRef(e.target.value)}
            required
          />
          <div className="actions">
            <button type="submit" className="primary" disabled={documentRef.trim() === ''}>
              Record and lift the lockout
            </button>
          </div>
        </Form>
      ) : (
        <p>Call a manager to the desk with the customer and their identity document.</p>
      )}
      <ApprovalDialog
        open={approving}
        action="Lift a support case's lockout after the identity check"
        approves="recovery.unlock"
        pending={procedure.isPending}
        error={procedure.error}
        onApprove={submit}
        onClose={() => setApproving(false)}
      />
    </section>
  );
}
