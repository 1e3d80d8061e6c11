import { useState } from 'react';
import type { KeystoreStatusInfo } from '../../../shared/contract/keys.contract';
import { useAction, useCall } from '../../api/client';
import { ApprovalDialog } from '../../ui/dialogs';
import { ErrorBanner, Field, Form, fieldError } from '../../ui/forms';

/** Master key generated inside, the demo bank CA and the issuer signing key S. */
export function KeyActions({ status }: { status: KeystoreStatusInfo }) {
  return (
    <section aria-label="Key actions">
      <h2>Other key actions</h2>
      <GenerateMasterKey replacing={status.masterKey?.version ?? null} />
      <CommonNameForm
        channel="keys:createBankCa"
        title="Demo bank CA"
        note="For demonstrations and training only: a bank CA made inside this keystore. A real bank imports its own CA certificate."
        button="Create demo bank CA"
        done={status.bankCa ? `Bank CA present, KCV ${status.bankCa.kcv}.` : null}
      />
      <CommonNameForm
        channel="keys:createIssuerKey"
        title="Issuer signing key (S)"
        note="S signs what the cards check. Its certificate is issued by the bank CA, which must exist first."
        button="Create issuer key"
        done={status.issuerKey ? `Issuer key version ${status.issuerKey.version}, KCV ${status.issuerKey.kcv}.` : null}
      />
      {status.issuerKey ? <IssuerCertificate /> : null}
    </section>
  );
}

function GenerateMasterKey({ replacing }: { replacing: number | null }) {
  const [approving, setApproving] = useState(false);
  const generate = useAction('keys:generateMasterKey', { onSuccess: () => setApproving(false) });
  return (
    <div>
      <h3>Generate master key inside</h3>
      <p className="muted">
        Instead of a ceremony, the keystore makes the master key itself; no component sheets exist, so it can only be
        recovered from a keystore backup. Needs a second approver.
        {replacing !== null ? ` It supersedes version ${replacing}.` : ''}
      </p>
      {generate.isSuccess ? (
        <div className="banner banner-ok">
          Master key version {generate.data.version} generated, KCV <span className="mono">{generate.data.kcv}</span>.
        </div>
      ) : null}
      <button type="button" onClick={() => setApproving(true)}>
        Generate master key
      </button>
      <ApprovalDialog
        open={approving}
        action="Generate a master key"
        approves="keys.ceremony"
        pending={generate.isPending}
        error={generate.error}
        onApprove={(approval) => generate.mutate({ approval })}
        onClose={() => {
          setApproving(false);
          generate.reset();
        }}
      />
    </div>
  );
}

function CommonNameForm(props: {
  channel: 'keys:createBankCa' | 'keys:createIssuerKey';
  title: string;
  note: string;
  button: string;
  done: string | null;
}) {
  const [commonName, setCommonName] = useState('');
  const create = useAction(props.channel, { onSuccess: () => setCommonName('') });
  return (
    <Form label={props.title} onSubmit={() => create.mutate({ commonName })}>
      <h3>{props.title}</h3>
      <p className="muted">{props.note}</p>
      {props.done ? <div className="banner banner-ok">{props.done}</div> : null}
      <ErrorBanner error={create.error} />
      <Field
        label="Common name"
        name={`${props.channel}-cn`}
        value={commonName}
        onChange={(e) => setCommonName(e.target.value)}
        error={fieldError(create.error, 'commonName')}
      />
      <button type="submit" disabled={create.isPending}>
        {props.button}
      </button>
    </Form>
  );
}

function IssuerCertificate() {
  const cert = useCall('keys:issuerCertificate', {});
  return (
    <details>
      <summary>Issuer certificate (public)</summary>
      <ErrorBanner error={cert.error} />
      {cert.data ? <pre className="mono">{cert.data.pem}</pre> : null}
    </details>
  );
}
