import { useState } from 'react';
import { useAction, useCall } from '../../api/client';
import { ConfirmDialog } from '../../ui/dialogs';
import { ErrorBanner, Field, Form, fieldError } from '../../ui/forms';

/** Look up a card's key series by N, and retire a compromised card key. */
export function CardKeyPanel() {
  const [typed, setTyped] = useState('');
  const [n, setN] = useState<string | null>(null);
  const state = useCall('keys:cardKeyState', { n: n ?? '' }, { enabled: n !== null, retry: false });
  return (
    <section aria-label="Card keys">
      <h2>Card key state</h2>
      <Form label="Look up card key" onSubmit={() => setN(typed.trim())}>
        <div className="toolbar">
          <Field
            label="Card identification code (N)"
            name="cardN"
            autoComplete="off"
            value={typed}
            onChange={(e) => setTyped(e.target.value)}
            error={fieldError(state.error, 'n')}
          />
          <button type="submit">Look up</button>
        </div>
      </Form>
      {state.error && !fieldError(state.error, 'n') ? <ErrorBanner error={state.error} /> : null}
      {n === null ? <div className="empty-state">Type a card’s identification code to see its key series.</div> : null}
      {state.data ? (
        <>
          <table className="grid" aria-label="Card key state">
            <tbody>
              <tr>
                <th>Card</th>
                <td>{state.data.n}</td>
              </tr>
              <tr>
                <th>Series number (SN)</th>
                <td data-testid="card-sn">{state.data.sn}</td>
              </tr>
              <tr>
                <th>Master key version</th>
                <td>{state.data.mkVersion}</td>
              </tr>
              <tr>
                <th>Rotation pending</th>
                <td>{state.data.pendingSn === null ? 'no' : `to SN ${state.data.pendingSn}`}</td>
              </tr>
              <tr>
                <th>Retired series</th>
                <td>{state.data.retiredSns}</td>
              </tr>
              <tr>
                <th>Check value (KCV)</th>
                <td className="mono">{state.data.kcv}</td>
              </tr>
            </tbody>
          </table>
          <RetireCardKey key={state.data.n} n={state.data.n} sn={state.data.sn} />
        </>
      ) : null}
    </section>
  );
}

function RetireCardKey({ n, sn }: { n: string; sn: number }) {
  const [reason, setReason] = useState('');
  const [confirm, setConfirm] = useState(false);
  const retire = useAction('keys:retireCardKey', { onSuccess: () => setReason('') });
  return (
    <Form label="Retire card key" onSubmit={() => setConfirm(true)}>
      <h3>Retire this card key</h3>
      <p className="muted">For a compromised key: the card moves to the next series. No other card changes.</p>
      {retire.isSuccess ? (
        <div className="banner banner-ok">
          Card {retire.data.n} now uses series {retire.data.sn}. The customer needs a new mailer with the new key.
        </div>
      ) : null}
      <ErrorBanner error={retire.error} />
      <Field
        label="Reason"
        name="retireReason"
        autoComplete="off"
        value={reason}
        onChange={(e) => setReason(e.target.value)}
        error={fieldError(retire.error, 'reason')}
      />
      <button type="submit" className="danger" disabled={retire.isPending || reason.trim() === ''}>
        Retire card key
      </button>
      <ConfirmDialog
        open={confirm}
        title={`Retire the key of ${n}?`}
        body={`Series ${sn} is retired for good and the card moves to series ${sn + 1}. Until the card and customer get the new key, activation with the old key fails.`}
        confirmLabel="Retire key"
        danger
        onConfirm={() => retire.mutate({ n, reason })}
        onClose={() => setConfirm(false)}
      />
    </Form>
  );
}
