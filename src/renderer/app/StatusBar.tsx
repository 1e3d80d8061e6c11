import { useCallback, useEffect, useState } from 'react';
import type { ReaderSnapshot } from '../../shared/contract';
import type { SessionInfo } from '../../shared/contract/auth.contract';
import { useEvent, useTransportEvent } from '../api/client';
import { shellKind } from '../api/bridge';

/** The bottom line: connection to main, reader and card state (pushed from main), session expiry. */
export function StatusBar({ session }: { session: SessionInfo }) {
  const readers = useReaders();
  const [connected, setConnected] = useState(true);
  useTransportEvent(useCallback((n) => setConnected(n === 'transport:connected'), []));
  const minutes = useMinutesLeft(session.expiresAt);
  return (
    <footer className="statusbar" role="status" aria-label="Status">
      <span className={connected ? 'dot ok' : 'dot bad'}>{connected ? 'Connected' : 'Connection lost — retrying'}</span>
      <span data-testid="reader-status">{describeReaders(readers)}</span>
      <span className="spacer" />
      <span>{shellKind === 'electron' ? 'Desktop' : 'Browser mode'}</span>
      <span>Session ends in {minutes} min without activity</span>
    </footer>
  );
}

export function useReaders(): ReaderSnapshot | null {
  const [snap, setSnap] = useState<ReaderSnapshot | null>(null);
  useEvent('reader:changed', setSnap);
  return snap;
}

function describeReaders(s: ReaderSnapshot | null): string {
  if (!s) return 'Readers: waiting for the reader service';
  if (s.service === 'unavailable' || s.service === 'starting') return s.message ?? 'No PC/SC service on this desk';
  if (s.service === 'pcscd-down' || s.service === 'recovering') return 'Reader service restarting…';
  if (s.readers.length === 0) return 'No reader connected';
  const withCard = s.readers.filter((r) => r.cardPresent);
  return `${s.readers.length} reader${s.readers.length === 1 ? '' : 's'}, ${withCard.length} card${withCard.length === 1 ? '' : 's'} present`;
}

function useMinutesLeft(expiresAt: string): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 15_000);
    return () => clearInterval(t);
  }, []);
  return Math.max(0, Math.round((Date.parse(expiresAt) - now) / 60_000));
}
