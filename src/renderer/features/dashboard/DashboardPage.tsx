import type { SessionInfo } from '../../../shared/contract/auth.contract';
import type { ChannelOutput } from '../../../shared/contract';
import { useCall } from '../../api/client';
import { useReaders } from '../../app/StatusBar';
import { ErrorBanner } from '../../ui/forms';

type DashboardSummary = ChannelOutput<'dashboard:summary'>;

export function DashboardPage({ session }: { session: SessionInfo }) {
  const summary = useCall('dashboard:summary', {}, { refetchInterval: 10_000 });
  const readers = useReaders();
  // Absent for roles that may not read the audit trail: those see no audit figures at all.
  const audit = summary.data?.audit;
  return (
    <section className="page" aria-label="Dashboard">
      <h1>Dashboard</h1>
      <p className="muted">Welcome, {session.displayName}.</p>
      <ErrorBanner error={summary.error} />
      {summary.data ? (
        <div className="tiles">
          <Tile label="Active operators" value={summary.data.operators} />
          <Tile label="Locked operators" value={summary.data.lockedOperators} warn={summary.data.lockedOperators > 0} />
          {audit ? (
            <>
              <Tile label="Audit entries today" value={audit.entriesToday} />
              <Tile
                label="Failed sign-ins today"
                value={audit.failedSignInsToday}
                warn={audit.failedSignInsToday > 0}
              />
            </>
          ) : null}
        </div>
      ) : null}
      <h2>Readers</h2>
      {!readers ? (
        <div className="empty-state">Waiting for the reader service…</div>
      ) : readers.readers.length === 0 ? (
        <div className="empty-state">{readers.message ?? 'No reader connected. Plug in a PC/SC reader.'}</div>
      ) : (
        <table className="grid" aria-label="Readers">
          <thead>
            <tr>
              <th>Reader</th>
              <th>Card</th>
              <th>ATR</th>
              <th>Card id</th>
              <th>N</th>
              <th>State</th>
              <th>Codes used / left</th>
            </tr>
          </thead>
          <tbody>
            {readers.readers.map((r) => (
              <tr key={r.name}>
                <td>{r.name}</td>
                <td>{r.cardPresent ? 'present' : '—'}</td>
                <td className="mono">{r.atr ?? ''}</td>
                <td>{r.card?.cardId ?? (r.cardPresent ? (r.error ?? 'reading…') : '')}</td>
                <td>{r.card?.n ?? ''}</td>
                <td>
                  {r.card?.lifeCycle ?? ''}
                  {r.card?.lowCodes ? <span className="badge-warn"> refill due</span> : null}
                </td>
                <td>
                  {r.card?.codesRemaining !== undefined
                    ? `${r.card.codesUsed ?? 0} / ${r.card.codesRemaining}`
                    : r.card
                      ? 'no list'
                      : ''}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {audit ? <RecentActivity recent={audit.recent} /> : null}
    </section>
  );
}

function RecentActivity({ recent }: { recent: NonNullable<DashboardSummary['audit']>['recent'] }) {
  return (
    <>
      <h2>Recent activity</h2>
      {recent.length > 0 ? (
        <table className="grid" aria-label="Recent activity">
          <thead>
            <tr>
              <th>When</th>
              <th>Operator</th>
              <th>Action</th>
              <th>Outcome</th>
            </tr>
          </thead>
          <tbody>
            {recent.map((e) => (
              <tr key={e.seq}>
                <td>{new Date(e.at).toLocaleTimeString()}</td>
                <td>{e.operator ?? 'system'}</td>
                <td>{e.action}</td>
                <td className={`outcome-${e.outcome}`}>{e.outcome}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <div className="empty-state">Nothing has happened yet today.</div>
      )}
    </>
  );
}

function Tile({ label, value, warn }: { label: string; value: number; warn?: boolean }) {
  return (
    <div className={warn ? 'tile warn' : 'tile'}>
      <div className="tile-value">{value}</div>
      <div className="tile-label">{label}</div>
    </div>
  );
}
