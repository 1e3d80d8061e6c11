import { useState } from 'react';
import { useAction } from '../../api/client';
import { ErrorBanner, Field, Form, fieldError } from '../../ui/forms';

/** First run: the person installing the workstation becomes its first security officer. */
export function SetupPage() {
  const [form, setForm] = useState({ username: '', displayName: '', password: '', confirm: '' });
  const [mismatch, setMismatch] = useState(false);
  const setup = useAction('auth:setupFirstOfficer');
  const set = (k: keyof typeof form) => (e: { target: { value: string } }) => setForm({ ...form, [k]: e.target.value });
  return (
    <main className="auth-card">
      <h1>Set up this workstation</h1>
      <p className="muted">
        No operators exist yet. Create the first <strong>security officer</strong>; they create every other operator.
      </p>
      <Form
        label="Create the first security officer"
        onSubmit={() => {
          if (form.password !== form.confirm) return setMismatch(true);
          setMismatch(false);
          setup.mutate({ username: form.username, displayName: form.displayName, password: form.password });
        }}
      >
        <ErrorBanner error={setup.error} />
        <Field
          label="User name"
          name="username"
          autoFocus
          value={form.username}
          onChange={set('username')}
          error={fieldError(setup.error, 'username')}
        />
        <Field
          label="Full name"
          name="displayName"
          value={form.displayName}
          onChange={set('displayName')}
          error={fieldError(setup.error, 'displayName')}
        />
        <Field
          label="Password"
          name="password"
          type="password"
          autoComplete="new-password"
          hint="At least 12 characters."
          value={form.password}
          onChange={set('password')}
          error={fieldError(setup.error, 'password')}
        />
        <Field
          label="Repeat password"
          name="confirm"
          type="password"
          autoComplete="new-password"
          value={form.confirm}
          onChange={set('confirm')}
          error={mismatch ? 'The two passwords differ.' : undefined}
        />
        <button type="submit" className="primary" disabled={setup.isPending}>
          Create security officer
        </button>
      </Form>
    </main>
  );
}
