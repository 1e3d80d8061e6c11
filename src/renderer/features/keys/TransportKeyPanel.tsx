import { useState } from 'react';
import type { KeystoreStatusInfo } from '../../../shared/contract/keys.contract';
import { useAction } from '../../api/client';
import { ApprovalDialog, ConfirmDialog } from '../../ui/dialogs';
import { ErrorBanner, Field, Form, fieldError } from '../../ui/forms';
import { CeremonyInProgress, type ComponentCeremony, type EnteredComponent } from './CeremonyWizard';

const TRANSPORT_KEY_COMPONENTS: ComponentCeremony = {
  enter: 'keys:transportEnterComponent',
  abort: 'keys:transportAbort',
  digits: 32,
  name: 'transport key import',
  label: 'transport key ',
  testId: 'transport-',
};

type Loaded = { version: number; kcv: string };

/**
 * The card vendor's transport master key, which opens blank cards for PERSONALISE. It arrives as
 * component sheets; each security officer types one with their own credentials and sees only its
 * check value, and the key is stored only when its check value matches the vendor's sheet. The
 * import itself lives in main, like the master-key ceremony.
 */
export function TransportKeyPanel({ status }: { status: KeystoreStatusInfo }) {
  const [loaded, setLoaded] = useState<Loaded | null>(null);
  const [kcvs, setKcvs] = useState<EnteredComponent[]>([]);
  const current = status.transportKey;
  return (
    <section aria-label="Vendor transport key">
      <h2>Vendor transport key</h2>
      <p data-testid="transport-key-state">
        {current ? (
          <>
            Loaded: version {current.version}, check value <strong className="mono">{current.kcv}</strong>. Blank cards
            from the card vendor can be enrolled.
          </>
        ) : (
          <>
            No vendor transport key is loaded, so enrollment cannot personalise blank cards. Two security officers load
            it here from the card vendor&apos;s component sheets.
          </>
        )}
      </p>
      {loaded ? (
        <div className="banner banner-ok" data-testid="transport-key-loaded">
          Vendor transport key version {loaded.version} loaded, check value{' '}
          <strong className="mono">{loaded.kcv}</strong>, as on the vendor&apos;s sheet.
        </div>
      ) : null}
      {status.transportCeremony ? (
        <CeremonyInProgress
          kind={TRANSPORT_KEY_COMPONENTS}
          progress={status.transportCeremony}
          kcvs={kcvs}
          onEntered={(e) => setKcvs((all) => [...all.filter((k) => k.index !== e.index), e])}
          finish={
            <FinishTransportImport
              onLoaded={(info) => {
                setKcvs([]);
                setLoaded(info);
              }}
            />
          }
        />
      ) : (
        <>
          <BeginTransportImport
            replacing={current}
            onBegun={() => {
              setLoaded(null);
              setKcvs([]);
            }}
          />
          {current ? <RemoveTransportKey current={current} onRemoved={() => setLoaded(null)} /> : null}
        </>
      )}
    </section>
  );
}

function BeginTransportImport({ replacing, onBegun }: { replacing: Loaded | null; onBegun: () => void }) {
  const [components, setComponents] = useState<2 | 3>(2);
  const [approving, setApproving] = useState(false);
  const begin = useAction('keys:transportBegin', {
    onSuccess: () => {
      setApproving(false);
      onBegun();
    },
  });
  return (
    <>
      <Form label="Load vendor transport key" onSubmit={() => setApproving(true)}>
        <p className="muted">
          Each security officer brings one of the card vendor&apos;s sealed component sheets; a second officer approves
          the start.
          {replacing
            ? ` The new key replaces version ${replacing.version} (check value ${replacing.kcv}), which is destroyed: blank cards made under the old key can no longer be enrolled.`
            : ''}
        </p>
        <div className="field">
          <label htmlFor="transport-components">Number of component sheets</label>
          <select
            id="transport-components"
            value={components}
            onChange={(e) => setComponents(e.target.value === '3' ? 3 : 2)}
          >
            <option value={2}>2 sheets</option>
            <option value={3}>3 sheets</option>
          </select>
        </div>
        <ErrorBanner error={approving ? null : begin.error} />
        <button type="submit" className="primary">
          {replacing ? 'Replace vendor transport key' : 'Load vendor transport key'}
        </button>
      </Form>
      <ApprovalDialog
        open={approving}
        action={replacing ? 'Replace the vendor transport key' : 'Load the vendor transport key'}
        approves="keys.ceremony"
        pending={begin.isPending}
        error={begin.error}
        onApprove={(approval) => begin.mutate({ components, approval })}
        onClose={() => setApproving(false)}
      />
    </>
  );
}

function FinishTransportImport({ onLoaded }: { onLoaded: (info: Loaded) => void }) {
  const [expected, setExpected] = useState('');
  const finish = useAction('keys:transportFinish', { onSuccess: onLoaded });
  return (
    <Form label="Finish transport key import" onSubmit={() => finish.mutate({ expectedKcv: expected })}>
      <p>
        All component sheets are entered. Type the key&apos;s check value from the vendor&apos;s sheet: the key is
        stored only if it matches.
      </p>
      <ErrorBanner error={finish.error} />
      <Field
        label="Transport key check value on the vendor's sheet"
        name="transportKeyKcv"
        autoComplete="off"
        autoFocus
        required
        maxLength={6}
        hint="6 hexadecimal characters."
        value={expected}
        onChange={(e) => setExpected(e.target.value)}
        error={fieldError(finish.error, 'expectedKcv')}
      />
      <button type="submit" className="primary" disabled={finish.isPending}>
        Store transport key
      </button>
    </Form>
  );
}

function RemoveTransportKey({ current, onRemoved }: { current: Loaded; onRemoved: () => void }) {
  const [reason, setReason] = useState('');
  const [confirming, setConfirming] = useState(false);
  const [approving, setApproving] = useState(false);
  const remove = useAction('keys:transportRemove', {
    onSuccess: () => {
      setApproving(false);
      setReason('');
      onRemoved();
    },
  });
  return (
    <>
      <Form label="Remove vendor transport key" onSubmit={() => setConfirming(true)}>
        <h3>Remove the vendor transport key</h3>
        <p className="muted">
          When the desk stops enrolling cards, or the vendor reports the key compromised. Needs a second security
          officer.
        </p>
        <ErrorBanner error={approving ? null : remove.error} />
        <Field
          label="Reason for removal"
          name="transportRemoveReason"
          autoComplete="off"
          required
          maxLength={200}
          value={reason}
          onChange={(e) => setReason(e.target.value)}
          error={fieldError(remove.error, 'reason')}
        />
        <button type="submit" className="danger">
          Remove transport key
        </button>
      </Form>
      <ConfirmDialog
        open={confirming}
        title="Remove the vendor transport key?"
        body={`Version ${current.version} (check value ${current.kcv}) is destroyed. Enrollment cannot personalise blank cards until the key is loaded again from the vendor's sheets.`}
        confirmLabel="Remove transport key"
        danger
        onConfirm={() => setApproving(true)}
        onClose={() => setConfirming(false)}
      />
      <ApprovalDialog
        open={approving}
        action="Remove the vendor transport key"
        approves="keys.ceremony"
        pending={remove.isPending}
        error={remove.error}
        onApprove={(approval) => remove.mutate({ reason, approval })}
        onClose={() => setApproving(false)}
      />
    </>
  );
}
