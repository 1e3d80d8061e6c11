import { useRef, useState, type ReactNode } from 'react';
import type { CeremonyProgressInfo, KeyInfoView, KeystoreStatusInfo } from '../../../shared/contract/keys.contract';
import { useAction } from '../../api/client';
import { ApprovalDialog, ConfirmDialog } from '../../ui/dialogs';
import { ErrorBanner, Field, Form, fieldError } from '../../ui/forms';
import { useSecretAction } from './use-secret-action';

/**
 * The master-key ceremony, one custodian at a time. The ceremony itself lives in main; this shows
 * where it stands. Each custodian types their own credentials and their component into blind
 * fields, cleared on submit and never shown back: they see only the check value to compare with the sheet.
 */
export function CeremonyWizard({ status }: { status: KeystoreStatusInfo }) {
  const [finished, setFinished] = useState<KeyInfoView | null>(null);
  const [kcvs, setKcvs] = useState<{ index: number; custodian: string; kcv: string }[]>([]);
  return (
    <section aria-label="Key ceremony">
      <h2>Master key ceremony</h2>
      {finished ? (
        <div className="banner banner-ok" data-testid="master-kcv">
          Master key version {finished.version} formed. Check value <strong className="mono">{finished.kcv}</strong>:
          compare it with the value on the ceremony record.
        </div>
      ) : null}
      {status.ceremony ? (
        <CeremonyInProgress
          kind={MASTER_KEY_COMPONENTS}
          progress={status.ceremony}
          kcvs={kcvs}
          onEntered={(e) => setKcvs((all) => [...all.filter((k) => k.index !== e.index), e])}
          finish={
            <FinishForm
              onFinished={(info) => {
                setKcvs([]);
                setFinished(info);
              }}
            />
          }
        />
      ) : (
        <BeginCeremony
          replacing={status.masterKey?.version ?? null}
          onBegun={() => {
            setFinished(null);
            setKcvs([]);
          }}
        />
      )}
    </section>
  );
}

function BeginCeremony({ replacing, onBegun }: { replacing: number | null; onBegun: () => void }) {
  const [components, setComponents] = useState<2 | 3>(2);
  const [approving, setApproving] = useState(false);
  const begin = useAction('keys:ceremonyBegin', {
    onSuccess: () => {
      setApproving(false);
      onBegun();
    },
  });
  return (
    <>
      <Form label="Begin key ceremony" onSubmit={() => setApproving(true)}>
        <p className="muted">
          Each custodian brings the sealed sheet with their component. The master key is formed from all of them; no one
          person ever knows it.
          {replacing !== null
            ? ` The new master key supersedes version ${replacing}; cards move to it at their next key rotation.`
            : ''}
        </p>
        <div className="field">
          <label htmlFor="ceremony-components">Number of components</label>
          <select
            id="ceremony-components"
            value={components}
            onChange={(e) => setComponents(e.target.value === '3' ? 3 : 2)}
          >
            <option value={2}>2 custodians</option>
            <option value={3}>3 custodians</option>
          </select>
        </div>
        <button type="submit" className="primary">
          Begin ceremony
        </button>
      </Form>
      <ApprovalDialog
        open={approving}
        action="Key ceremony"
        approves="keys.ceremony"
        pending={begin.isPending}
        error={begin.error}
        onApprove={(approval) => begin.mutate({ components, approval })}
        onClose={() => {
          setApproving(false);
          begin.reset();
        }}
      />
    </>
  );
}

/** What differs between the master-key ceremony and loading the vendor transport key from its sheets. */
export interface ComponentCeremony {
  readonly enter: 'keys:ceremonyEnterComponent' | 'keys:transportEnterComponent';
  readonly abort: 'keys:ceremonyAbort' | 'keys:transportAbort';
  /** Hex digits of one component on its sheet. */
  readonly digits: 64 | 32;
  /** Names the page uses: "ceremony", "transport key import". */
  readonly name: string;
  /** Prefix of the form labels and test ids, so both can be on the page at once. */
  readonly label: string;
  readonly testId: string;
}

export const MASTER_KEY_COMPONENTS: ComponentCeremony = {
  enter: 'keys:ceremonyEnterComponent',
  abort: 'keys:ceremonyAbort',
  digits: 64,
  name: 'ceremony',
  label: '',
  testId: '',
};

export type EnteredComponent = { index: number; custodian: string; kcv: string };

export function CeremonyInProgress(props: {
  kind: ComponentCeremony;
  progress: CeremonyProgressInfo;
  kcvs: EnteredComponent[];
  onEntered: (e: EnteredComponent) => void;
  /** Shown once every component is entered. */
  finish: ReactNode;
}) {
  const { progress, kind } = props;
  const next = [1, 2, 3].slice(0, progress.components).find((i) => !progress.entered.includes(i)) ?? null;
  const [confirmAbort, setConfirmAbort] = useState(false);
  const abort = useAction(kind.abort);
  const Name = kind.name.charAt(0).toUpperCase() + kind.name.slice(1);
  return (
    <div>
      <p data-testid={`${kind.testId || 'ceremony-'}progress`}>
        {Name} in progress: {progress.entered.length} of {progress.components} components entered.
      </p>
      {props.kcvs.length > 0 ? (
        <ul aria-label={`${kind.label}Component check values`}>
          {props.kcvs.map((k) => (
            <li key={k.index} data-testid={`${kind.testId}component-kcv-${k.index}`}>
              Component {k.index} ({k.custodian}): check value <strong className="mono">{k.kcv}</strong>
            </li>
          ))}
        </ul>
      ) : null}
      {next !== null ? (
        <ComponentForm kind={kind} index={next} of={progress.components} onEntered={props.onEntered} />
      ) : (
        props.finish
      )}
      <ErrorBanner error={abort.error} />
      <button type="button" className="danger" onClick={() => setConfirmAbort(true)}>
        Abort {kind.name}
      </button>
      <ConfirmDialog
        open={confirmAbort}
        title={`Abort the ${kind.name}?`}
        body="The components entered so far are wiped. The custodians would start again from the beginning."
        confirmLabel={`Abort ${kind.name}`}
        danger
        onConfirm={() => abort.mutate({})}
        onClose={() => setConfirmAbort(false)}
      />
    </div>
  );
}

function ComponentForm(props: {
  kind: ComponentCeremony;
  index: number;
  of: number;
  onEntered: (e: EnteredComponent) => void;
}) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [component, setComponent] = useState('');
  const [sheetKcv, setSheetKcv] = useState('');
  // Who signed the component in flight, for the check-value list (the fields are already cleared).
  const signer = useRef('');
  const enter = useSecretAction(props.kind.enter, (out) => {
    props.onEntered({ index: out.index, custodian: signer.current, kcv: out.kcv });
    setSheetKcv('');
  });
  return (
    <Form
      label={`Enter ${props.kind.label}component`}
      onSubmit={() => {
        const custodian = { username, password };
        const value = component;
        signer.current = username.trim();
        // Gone from the page before the call even leaves.
        setUsername('');
        setPassword('');
        setComponent('');
        void enter.run({
          index: props.index,
          component: value,
          custodian,
          ...(sheetKcv.trim() ? { expectedKcv: sheetKcv } : {}),
        });
      }}
    >
      <h3>
        Component {props.index} of {props.of}
      </h3>
      <p className="muted">
        Custodian {props.index} types their own user name and password, then their component. Each component needs a
        different security officer. Nothing typed here is shown on screen, and all of it is cleared as soon as it is
        sent.
      </p>
      <ErrorBanner error={enter.error} />
      <div className="form-row">
        <Field
          label="Custodian user name"
          name="custodianUsername"
          type="password"
          autoFocus
          autoComplete="off"
          value={username}
          onChange={(e) => setUsername(e.target.value)}
          error={fieldError(enter.error, 'custodian.username')}
        />
        <Field
          label="Custodian password"
          name="custodianPassword"
          type="password"
          autoComplete="off"
          value={password}
          onChange={(e) => setPassword(e.target.value)}
          error={fieldError(enter.error, 'custodian.password')}
        />
      </div>
      <div className="form-row">
        <Field
          label="Component"
          name="component"
          type="password"
          autoComplete="off"
          spellCheck={false}
          hint={`${props.kind.digits} hexadecimal characters; spaces between groups are fine.`}
          value={component}
          onChange={(e) => setComponent(e.target.value)}
          error={fieldError(enter.error, 'component')}
        />
        <Field
          label="Check value on the sheet (optional)"
          name="sheetKcv"
          autoComplete="off"
          maxLength={6}
          hint="With it, a mistyped component is refused."
          value={sheetKcv}
          onChange={(e) => setSheetKcv(e.target.value)}
          error={fieldError(enter.error, 'expectedKcv')}
        />
      </div>
      <button type="submit" className="primary" disabled={enter.pending}>
        Enter component {props.index}
      </button>
    </Form>
  );
}

function FinishForm({ onFinished }: { onFinished: (info: KeyInfoView) => void }) {
  const [expected, setExpected] = useState('');
  const finish = useAction('keys:ceremonyFinish', { onSuccess: onFinished });
  return (
    <Form label="Finish ceremony" onSubmit={() => finish.mutate(expected.trim() ? { expectedKcv: expected } : {})}>
      <p>All components are entered. Forming the master key stores it in the keystore.</p>
      <ErrorBanner error={finish.error} />
      <Field
        label="Expected master key check value (optional)"
        name="expectedMkKcv"
        autoComplete="off"
        maxLength={6}
        hint="From the ceremony record; on a mismatch nothing is stored."
        value={expected}
        onChange={(e) => setExpected(e.target.value)}
        error={fieldError(finish.error, 'expectedKcv')}
      />
      <button type="submit" className="primary" disabled={finish.isPending}>
        Form master key
      </button>
    </Form>
  );
}
