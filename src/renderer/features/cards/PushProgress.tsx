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

/** A push as the desk has heard of it: its latest report, and every step reached so far in order. */
export interface PushProgressState {
  readonly latest: PushProgressEvent;
  readonly reached: readonly PushProgressEvent['step'][];
}

/**
 * The latest `push:progress` for one reader with the steps reached before it, and a reset for the
 * next push. The steps are kept in state, not taken from what happened to render: React may draw
 * several quick reports as one, and the steps passed must still show.
 */
export function usePushProgress(reader: string): [PushProgressState | null, () => void] {
  const [progress, setProgress] = useState<PushProgressState | null>(null);
  useEvent(
    'push:progress',
    useCallback(
      (p: PushProgressEvent) => {
        if (p.reader !== reader) return;
        setProgress((before) => {
          const reached = before?.reached ?? [];
          return { latest: p, reached: reached.includes(p.step) ? reached : [...reached, p.step] };
        });
      },
      [reader],
    ),
  );
  return [progress, useCallback(() => setProgress(null), [])];
}

/**
 * A push under way: the step in words, the bytes sent so far, and the steps already passed. The same
 * for every push the desk makes.
 */
export function PushProgress({ progress }: { progress: PushProgressState | null }) {
  if (!progress) return null;
  const { latest, reached } = progress;
  const passed = reached.filter((step) => step !== latest.step);
  return (
    <div>
      <div role="status" data-testid="push-progress">
        <p>{PUSH_STEPS[latest.step]}</p>
        {latest.total ? <progress max={latest.total} value={latest.sent ?? 0} aria-label="List sent" /> : null}
      </div>
      {passed.length > 0 ? (
        <ol aria-label="Steps done" data-testid="push-steps-done" className="muted">
          {passed.map((step) => (
            <li key={step}>{PUSH_STEPS[step]} ✓</li>
          ))}
        </ol>
      ) : null}
    </div>
  );
}
