import { useState } from 'react';
import { useAction } from '../../api/client';
import { ErrorBanner, Field, Form, fieldError } from '../../ui/forms';

export function ChangePasswordPage({ forced }: { forced?: boolean }) {
  const [currentPassword, setCurrent] = useState('');
  const [newPassword, setNew] = useState('');
  const change = useAction('auth:changePassword', {
    onSettled: () => {
      setCurrent('');
      setNew('');
    },
  });
  return (
    <main className={forced ? 'auth-card' : 'page'}>
      <h1>Change password</h1>
      {forced ? <p className="muted">Your password was reset. Choose a new one before you continue.</p> : null}
      {change.isSuccess ? <div className="banner banner-ok">Password changed.</div> : null}
      <Form label="Change password" onSubmit={() => change.mutate({ currentPassword, newPassword })}>
        <ErrorBanner error={change.error} />
        <Field
          label="Current password"
          name="currentPassword"
          type="password"
          autoFocus
          autoComplete="current-password"
          value={currentPassword}
          onChange={(e) => setCurrent(e.target.value)}
        />
        <Field
          label="New password"
          name="newPassword"
          type="password"
          autoComplete="new-password"
          hint="At least 12 characters."
          value={newPassword}
          onChange={(e) => setNew(e.target.value)}
          error={fieldError(change.error, 'newPassword')}
        />
        <button type="submit" className="primary" disabled={change.isPending}>
          Change password
        </button>
      </Form>
    </main>
  );
}
