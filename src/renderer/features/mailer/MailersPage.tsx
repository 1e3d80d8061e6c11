import { useState } from 'react';
import { MailerQueue } from './MailerQueue';
import { PrintLog } from './PrintLog';

type View = 'queue' | 'log';

/**
 * The K/N mailers (docs/mailer.md): the queue of cards waiting for theirs, and the print log. The
 * page never holds K: main renders each mailer and sends it to the printer; the page gets serials.
 */
export function MailersPage() {
  const [view, setView] = useState<View>('queue');
  return (
    <section className="page" aria-label="Mailers">
      <h1>K/N mailers</h1>
      <div className="toolbar" role="group" aria-label="View">
        <button type="button" aria-pressed={view === 'queue'} onClick={() => setView('queue')}>
          Queue
        </button>
        <button type="button" aria-pressed={view === 'log'} onClick={() => setView('log')}>
          Print log
        </button>
      </div>
      {view === 'queue' ? <MailerQueue /> : <PrintLog />}
    </section>
  );
}
