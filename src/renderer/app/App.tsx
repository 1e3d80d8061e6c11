import { useCallback } from 'react';
import { useQueryClient } from '@tanstack/react-query';
import { useCall, useEvent } from '../api/client';
import { SetupPage } from '../features/auth/SetupPage';
import { SignInPage } from '../features/auth/SignInPage';
import { ChangePasswordPage } from '../features/auth/ChangePasswordPage';
import { Shell } from './Shell';

/** The gate: first run → create the security officer; no session → sign in; else the frame. */
export function App() {
  const qc = useQueryClient();
  const status = useCall('auth:status', {}, { refetchInterval: 30_000 });
  const onEnded = useCallback(() => void qc.invalidateQueries(), [qc]);
  useEvent('session:ended', onEnded);

  if (status.isPending) return <div className="splash">Connecting to the workstation…</div>;
  if (status.isError)
    return (
      <div className="splash" role="alert">
        {status.error.message}
      </div>
    );
  const { firstRun, session } = status.data;
  if (firstRun) return <SetupPage />;
  if (!session) return <SignInPage />;
  if (session.mustChangePassword) return <ChangePasswordPage forced />;
  return <Shell session={session} />;
}
