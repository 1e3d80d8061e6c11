import { useId, type FormEvent, type InputHTMLAttributes, type ReactNode } from 'react';
import type { CallError } from '../api/client';

export function Field(
  props: { label: string; error?: string | undefined; hint?: string } & InputHTMLAttributes<HTMLInputElement>,
) {
  const { label, error, hint, ...input } = props;
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <input
        id={id}
        aria-invalid={error ? true : undefined}
        aria-describedby={error ? `${id}-err` : undefined}
        {...input}
      />
      {hint && !error ? <div className="hint">{hint}</div> : null}
      {error ? (
        <div className="field-error" id={`${id}-err`} role="alert">
          {error}
        </div>
      ) : null}
    </div>
  );
}

/** A labelled choice among fixed options (`value` → label), for enums of the contract. */
export function SelectField<T extends string>(props: {
  label: string;
  value: T;
  options: Readonly<Record<T, string>>;
  onChange: (value: T) => void;
}) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>{props.label}</label>
      <select id={id} value={props.value} onChange={(e) => props.onChange(e.target.value as T)}>
        {(Object.entries(props.options) as [T, string][]).map(([value, label]) => (
          <option key={value} value={value}>
            {label}
          </option>
        ))}
      </select>
    </div>
  );
}

/** A form that submits on Enter and never reloads the page. */
export function Form(props: { onSubmit: () => void; children: ReactNode; label: string }) {
  return (
    <form
      aria-label={props.label}
      onSubmit={(e: FormEvent) => {
        e.preventDefault();
        props.onSubmit();
      }}
    >
      {props.children}
    </form>
  );
}

export function ErrorBanner({ error }: { error: CallError | null | undefined }) {
  if (!error) return null;
  return (
    <div className="banner banner-error" role="alert" data-code={error.code}>
      {error.message}
    </div>
  );
}

export function fieldError(error: CallError | null | undefined, field: string): string | undefined {
  return error?.error.fields?.[field];
}
