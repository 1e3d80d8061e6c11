import { useEffect, useMemo, useState } from 'react';
import { useAction } from '../../api/client';
import { ConfirmDialog } from '../../ui/dialogs';
import { ErrorBanner } from '../../ui/forms';

/**
 * Sends a card's queued list by text message (docs/remote-refill.md), for a cardholder away from a
 * desk reader: the list is marked sent, and the messages are shown to copy into the SMS gateway or
 * to download as a text file. They are sealed to the card, so showing them reveals no code.
 */
export function SmsPackagePanel({ cards }: { cards: readonly { n: string }[] }) {
  const [n, setN] = useState(cards[0]?.n ?? '');
  const [confirm, setConfirm] = useState(false);
  const [copied, setCopied] = useState(false);
  const send = useAction('push:exportSms');
  const pkg = send.data;
  const text = pkg ? pkg.segments.join('\n') : '';
  const download = useMemo(
    () => (text ? URL.createObjectURL(new Blob([`${text}\n`], { type: 'text/plain' })) : ''),
    [text],
  );
  useEffect(() => () => (download ? URL.revokeObjectURL(download) : undefined), [download]);
  if (cards.length === 0) return null;
  return (
    <section aria-label="Send a list by text message">
      <h2>Send a list by text message</h2>
      <p className="muted">
        For a cardholder away from a desk reader: the list waiting for the card (request a refill first) goes out as
        text messages, which the cardholder’s own reader loads into the card. Only that card can open them.
      </p>
      <div className="toolbar">
        {cards.length > 1 ? (
          <div className="field">
            <label htmlFor="sms-card">Card (N)</label>
            <select id="sms-card" value={n} onChange={(e) => setN(e.target.value)}>
              {cards.map((c) => (
                <option key={c.n} value={c.n}>
                  {c.n}
                </option>
              ))}
            </select>
          </div>
        ) : null}
        <button type="button" disabled={send.isPending || n === ''} onClick={() => setConfirm(true)}>
          Send list for {n} by text message
        </button>
      </div>
      <ErrorBanner error={send.error} />
      {pkg ? (
        <div data-testid="sms-package">
          <p className="banner banner-ok" role="status">
            List {pkg.seq} of card {pkg.n} is marked as sent{pkg.resent ? ' again' : ''}: package {pkg.packageId},{' '}
            {pkg.segments.length} messages. Send each line as one text message to the cardholder’s registered mobile
            number.
          </p>
          <label htmlFor="sms-segments">Text messages, one per line</label>
          <textarea
            id="sms-segments"
            className="mono"
            readOnly
            rows={Math.min(pkg.segments.length, 12)}
            value={text}
            onFocus={(e) => e.currentTarget.select()}
          />
          <div className="toolbar">
            <button type="button" onClick={() => void navigator.clipboard.writeText(text).then(() => setCopied(true))}>
              {copied ? 'Copied' : 'Copy messages'}
            </button>
            <a className="button" href={download} download={`otac-package-${pkg.packageId}.txt`}>
              Download as a text file
            </a>
          </div>
        </div>
      ) : null}
      <ConfirmDialog
        open={confirm}
        title="Send the list by text message?"
        body={`The list waiting for card ${n} is marked as sent. If the card is later presented at a desk reader, that push finishes the same list.`}
        confirmLabel="Send list"
        onConfirm={() => {
          setCopied(false);
          send.mutate({ n });
        }}
        onClose={() => setConfirm(false)}
      />
    </section>
  );
}
