import { useMemo, useState } from 'react';
import type { Approval } from '../../../shared/contract/approval.contract';
import type { SessionInfo } from '../../../shared/contract/auth.contract';
import { VERIFY_CLIENT_SCOPES, type VerifyClientView } from '../../../shared/contract/verify-desk.contract';
import { useAction, useCall } from '../../api/client';
import { ApprovalDialog, ConfirmDialog } from '../../ui/dialogs';
import { ErrorBanner, Field, Form, fieldError } from '../../ui/forms';
import { SortableHeader } from '../../ui/table';

// The verification service's clients (docs/verification-service.md "At the desk"): the bank systems
// that may check codes. A manager makes one, a second manager or security officer approves; an API
// key is shown here once and never again (main keeps its hash), a certificate is issued for the
// client's own request (its private key never comes here). Revoking takes effect at once.

type Sort = 'name' | 'createdAt' | 'credential';
type Scope = (typeof VERIFY_CLIENT_SCOPES)[number];

const SCOPE_LABELS: Record<Scope, string> = {
  verify: 'verify codes',
  challenge: 'challenges',
  read: 'read metrics',
};

const when = (iso: string | null) => (iso ? iso.replace('T', ' ').slice(0, 16) : '');

export function VerifyClientsPage({ session }: { session: SessionInfo }) {
  const list = useCall('verifyClients:list', {});
  const [sort, setSort] = useState<Sort>('createdAt');
  const [desc, setDesc] = useState(true);
  const rows = useMemo(() => {
    const all = [...(list.data?.clients ?? [])];
    all.sort((a, b) => (a[sort] < b[sort] ? -1 : a[sort] > b[sort] ? 1 : 0) * (desc ? -1 : 1));
    return all;
  }, [list.data, sort, desc]);
  const [revoking, setRevoking] = useState<VerifyClientView | null>(null);
  const revoke = useAction('verifyClients:revoke');
  const mayRevoke = session.role === 'manager' || session.role === 'security_officer';
  return (
    <section className="page" aria-label="Verification service clients">
      <h1>Verification service clients</h1>
      <p className="muted">
        The bank systems that may check codes with the verification service, with an API key or a client certificate
        from the bank CA.
      </p>
      {session.role === 'manager' ? <NewClient /> : null}
      <h2>Clients</h2>
      <ErrorBanner error={list.error ?? revoke.error} />
      {revoke.isSuccess ? (
        <div className="banner banner-ok" role="status">
          {revoke.data.name} is revoked: the service refuses it from now on.
        </div>
      ) : null}
      {list.data && rows.length === 0 ? (
        <div className="empty-state">No client yet. A manager adds the online banking here.</div>
      ) : null}
      {rows.length > 0 ? (
        <table className="grid" aria-label="Verification service clients">
          <thead>
            <tr>
              <SortableHeader
                label="Name"
                column="name"
                sort={sort}
                desc={desc}
                onSort={(c, d) => (setSort(c), setDesc(d))}
              />
              <th>Scopes</th>
              <SortableHeader
                label="Credential"
                column="credential"
                sort={sort}
                desc={desc}
                onSort={(c, d) => (setSort(c), setDesc(d))}
              />
              <SortableHeader
                label="Created"
                column="createdAt"
                sort={sort}
                desc={desc}
                onSort={(c, d) => (setSort(c), setDesc(d))}
              />
              <th>State</th>
              {mayRevoke ? <th>Action</th> : null}
            </tr>
          </thead>
          <tbody>
            {rows.map((c) => (
              <tr key={c.keyId} data-testid={`client-${c.keyId}`}>
                <td>
                  {c.name} <span className="muted mono">{c.keyId}</span>
                </td>
                <td>{c.scopes.join(', ')}</td>
                <td>
                  {c.credential === 'api_key' ? (
                    'API key'
                  ) : (
                    <>
                      certificate <span className="mono">{c.certSerial?.slice(0, 12)}…</span>, until{' '}
                      {when(c.certNotAfter)}
                    </>
                  )}
                </td>
                <td>
                  {when(c.createdAt)} <span className="muted">by {c.createdBy}</span>
                </td>
                <td>{c.revokedAt ? `revoked ${when(c.revokedAt)}` : 'active'}</td>
                {mayRevoke ? (
                  <td>
                    {c.revokedAt ? null : (
                      <button type="button" className="danger" onClick={() => setRevoking(c)}>
                        Revoke {c.name}
                      </button>
                    )}
                  </td>
                ) : null}
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      <ConfirmDialog
        open={revoking !== null}
        title="Revoke this client?"
        body={`${revoking?.name ?? ''} can no longer call the verification service. This cannot be undone: a new client needs a new key or certificate.`}
        confirmLabel="Revoke"
        danger
        onConfirm={() => revoking && revoke.mutate({ keyId: revoking.keyId })}
        onClose={() => setRevoking(null)}
      />
    </section>
  );
}

/** A new client: name, scopes, API key or certificate request; then the second person approves. */
function NewClient() {
  const [name, setName] = useState('');
  const [scopes, setScopes] = useState<Scope[]>(['verify']);
  const [kind, setKind] = useState<'api_key' | 'certificate'>('api_key');
  const [csrPem, setCsrPem] = useState('');
  const [validDays, setValidDays] = useState('365');
  const [approving, setApproving] = useState(false);
  /** The key, held only until the manager says it is copied. */
  const [shownKey, setShownKey] = useState<{ name: string; apiKey: string } | null>(null);
  const [certificate, setCertificate] = useState<{ name: string; pem: string; serial: string } | null>(null);
  const onError = (e: { code: string }) => {
    if (e.code === 'APPROVAL_REQUIRED') setApproving(true);
  };
  const reset = () => {
    setApproving(false);
    setName('');
    setCsrPem('');
  };
  const create = useAction('verifyClients:create', {
    onSuccess: (out) => {
      setShownKey({ name: out.client.name, apiKey: out.apiKey });
      reset();
    },
    onError,
  });
  const issue = useAction('verifyClients:issueCertificate', {
    onSuccess: (out) => {
      setCertificate({ name: out.client.name, pem: out.certificatePem, serial: out.serial });
      reset();
    },
    onError,
  });
  const action = kind === 'api_key' ? create : issue;
  const submit = (approval?: Approval) => {
    setShownKey(null);
    setCertificate(null);
    if (kind === 'api_key') create.mutate({ name, scopes, ...(approval ? { approval } : {}) });
    else
      issue.mutate({
        name,
        scopes,
        csrPem,
        validDays: Number(validDays) || 365,
        ...(approval ? { approval } : {}),
      });
  };
  const toggle = (s: Scope) => setScopes((cur) => (cur.includes(s) ? cur.filter((x) => x !== s) : [...cur, s]));
  return (
    <>
      <h2>New client</h2>
      {shownKey ? (
        <div className="banner banner-ok" role="status" aria-label="New API key">
          <p>
            The API key of <strong>{shownKey.name}</strong>. It is shown <strong>this once</strong>: hand it to the
            bank&apos;s system now; the desk keeps only its hash.
          </p>
          <p className="mono" data-testid="new-api-key">
            {shownKey.apiKey}
          </p>
          <button type="button" onClick={() => setShownKey(null)}>
            I have handed it over
          </button>
        </div>
      ) : null}
      {certificate ? (
        <div className="banner banner-ok" role="status" aria-label="New client certificate">
          <p>
            The client certificate of <strong>{certificate.name}</strong> (serial{' '}
            <span className="mono">{certificate.serial}</span>). Give it to the client with the bank CA certificate; its
            private key stays with the client.
          </p>
          <label htmlFor="issued-certificate">Certificate (PEM)</label>
          <textarea id="issued-certificate" readOnly rows={6} value={certificate.pem} />
          <button type="button" onClick={() => setCertificate(null)}>
            Done
          </button>
        </div>
      ) : null}
      <Form label="New client" onSubmit={() => submit()}>
        {!approving ? <ErrorBanner error={action.error} /> : null}
        <Field
          label="Name of the bank system"
          value={name}
          onChange={(e) => setName(e.target.value)}
          error={fieldError(action.error, 'name')}
          hint="e.g. online-banking"
          required
        />
        <fieldset>
          <legend>Scopes</legend>
          {VERIFY_CLIENT_SCOPES.map((s) => (
            <label key={s} className="inline">
              <input type="checkbox" checked={scopes.includes(s)} onChange={() => toggle(s)} /> {SCOPE_LABELS[s]}
            </label>
          ))}
        </fieldset>
        <fieldset>
          <legend>Credential</legend>
          <label className="inline">
            <input type="radio" name="credential" checked={kind === 'api_key'} onChange={() => setKind('api_key')} />{' '}
            API key (shown once)
          </label>
          <label className="inline">
            <input
              type="radio"
              name="credential"
              checked={kind === 'certificate'}
              onChange={() => setKind('certificate')}
            />{' '}
            Client certificate (mutual TLS) for the client&apos;s certificate request
          </label>
        </fieldset>
        {kind === 'certificate' ? (
          <>
            <div className="field">
              <label htmlFor="client-csr">Certificate request (PEM, from the client)</label>
              <textarea
                id="client-csr"
                rows={6}
                value={csrPem}
                onChange={(e) => setCsrPem(e.target.value)}
                placeholder="-----BEGIN CERTIFICATE REQUEST-----"
              />
            </div>
            <Field
              label="Valid for (days)"
              type="number"
              min={1}
              max={825}
              value={validDays}
              onChange={(e) => setValidDays(e.target.value)}
            />
          </>
        ) : null}
        <button type="submit" className="primary" disabled={action.isPending || scopes.length === 0}>
          {kind === 'api_key' ? 'Create client' : 'Issue certificate'}
        </button>
      </Form>
      <ApprovalDialog
        open={approving}
        action={`Create the verification client ${name}`}
        approves="verify_client.create"
        pending={action.isPending}
        error={approving && action.error?.code !== 'APPROVAL_REQUIRED' ? action.error : null}
        onApprove={(approval) => submit(approval)}
        onClose={() => setApproving(false)}
      />
    </>
  );
}
