import { useCallback, useState } from 'react';
import type { EventPayload } from '../../../shared/contract';
import { useEvent } from '../../api/client';

type PushProgressEvent = EventPayload<'push:progress'>;

const PUSH_STEPS: Record<PushProgressEvent['step'], string> = {
  reading: 'Reading the card',
  sealing: 'Sealing the list in the keystore',
  sending: 'Sending the list',
  committing: 'The card is committing the list',
  confirming: 'Checking the card’s receipt',
  done: 'Done',
};

/** The latest `push:progress` for one reader, and a reset for the next push. */
export function usePushProgress(reader: string): [PushProgressEvent | null, () => void] {
  const [progress, setProgress] = useState<PushProgressEvent | null>(null);
  useEvent(
    'push:progress',
    useCallback((p: PushProgressEvent) => (p.reader === reader ? setProgress(p) : undefined), [reader]),
  );
  return [progress, useCallback(() => setProgress(null), [])];
}

/** A push under way: the step in words and the bytes sent so far. The same for every push the desk makes. */
export function PushProgress({ progress }: { progress: PushProgressEvent | null }) {
  if (!progress) return null;
  return (
    <div role="status" data-testid="push-progress">
      <p>{PUSH_STEPS[progress.step]}</p>
      {progress.total ? <progress max={progress.total} value={progress.sent ?? 0} aria-label="List sent" /> : null}
    </div>
  );
}
