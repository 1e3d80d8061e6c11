import type { CounterKdfInput } from '../crypto/sp800-108';
import { AppError } from '../errors';
import type { KeystoreBackend } from './keystore-backend';
import type { KeyRegistry } from './key-registry';

// The support passkey's keyed tag (docs/support.md "Passkey"). The passkey key is derived from the
// master key inside the backend (SP 800-108, label "OTAC passkey key", AES-256), used for one AES-CMAC
// and destroyed: it never leaves the keystore, and the database keeps only the 16-byte tag, from
// which no passkey can be found without the keystore (a short passkey could be guessed from a plain
// hash in seconds).

export const PASSKEY_KEY_LABEL = 'OTAC passkey key';

export function passkeyKeyKdfInput(): CounterKdfInput {
  return {
    counterBits: 32,
    lengthBits: 256,
    after: Buffer.concat([Buffer.from(PASSKEY_KEY_LABEL, 'ascii'), Buffer.from([0, 0, 0, 1, 0])]),
  };
}

/** The tagged message: the case it was made for, then the passkey, both length-prefixed. */
export function passkeyTagMessage(scope: string, passkey: string): Buffer {
  const s = Buffer.from(scope, 'utf8');
  const p = Buffer.from(passkey, 'utf8');
  return Buffer.concat([
    Buffer.from('OTAC passkey', 'ascii'),
    Buffer.from([0, s.length]),
    s,
    Buffer.from([p.length]),
    p,
  ]);
}

export function passkeyTag(backend: KeystoreBackend, registry: KeyRegistry, scope: string, passkey: string): string {
  if (typeof scope !== 'string' || typeof passkey !== 'string' || scope.length > 64 || passkey.length > 64)
    throw new AppError('PASSKEY_INVALID', 'A passkey is at most 64 characters. Type what the customer reads out.');
  const mk = registry.active('master');
  if (!mk)
    throw new AppError(
      'KEYSTORE_NO_MASTER_KEY',
      'The keystore has no master key yet, so no passkey can be made. A security officer holds the key ceremony first (Keys page).',
    );
  const key = backend.deriveAes(mk.id, passkeyKeyKdfInput(), { persistent: false, extractable: false });
  try {
    return backend.cmac(key, passkeyTagMessage(scope, passkey)).toString('hex');
  } finally {
    backend.destroy(key);
  }
}
