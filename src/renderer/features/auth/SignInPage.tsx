import { useState } from 'react';
import { useAction } from '../../api/client';
import { ErrorBanner, Field, Form, fieldError } from '../../ui/forms';

export function SignInPage() {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const signIn = useAction('auth:signIn', { onSettled: () => setPassword('') });
  return (
    <main className="auth-card">
      <h1>OTAC Issuer Workstation</h1>
      <p className="muted">Sign in with your operator account.</p>
      <Form label="Sign in" onSubmit={() => signIn.mutate({ username, password })}>
        <ErrorBanner error={signIn.error} />
        <Field
          label="User name"
          name="username"
          autoFocus
          autoComplete="username"
          value={username}
          onChange={(e) => setUsername(e.target.value)}
          error={fieldError(signIn.error, 'username')}
        />
        <Field
          label="Password"
          name="password"
          type="password"
          autoComplete="current-password"
          value={password}
          onChange={(e) => setPassword(e.target.value)}
          error={fieldError(signIn.error, 'password')}
        />
        <button type="submit" className="primary" disabled={signIn.isPending}>
          {signIn.isPending ? 'Signing in…' : 'Sign in'}
        </button>
      </Form>
    </main>
  );
}
