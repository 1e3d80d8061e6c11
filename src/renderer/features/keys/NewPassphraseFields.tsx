import { Field } from '../../ui/forms';

/** A new passphrase typed twice, blind. The caller clears both on submit. */
export function NewPassphraseFields(props: {
  label: string;
  repeatLabel: string;
  name: string;
  hint: string;
  value: string;
  repeat: string;
  mismatch: boolean;
  autoFocus?: boolean;
  onChange: (value: string) => void;
  onRepeatChange: (value: string) => void;
}) {
  return (
    <div className="form-row">
      <Field
        label={props.label}
        name={props.name}
        type="password"
        autoComplete="new-password"
        autoFocus={props.autoFocus}
        hint={props.hint}
        value={props.value}
        onChange={(e) => props.onChange(e.target.value)}
      />
      <Field
        label={props.repeatLabel}
        name={`${props.name}Repeat`}
        type="password"
        autoComplete="new-password"
        value={props.repeat}
        onChange={(e) => props.onRepeatChange(e.target.value)}
        error={props.mismatch ? 'The two passphrases differ. Type them again.' : undefined}
      />
    </div>
  );
}
