import { constants, createPublicKey, publicEncrypt, randomBytes } from 'node:crypto';
import type { CounterKdfInput } from '../crypto/sp800-108';
import { AppError } from '../errors';
import type { CardKeyService } from './card-key.service';
import type { KeystoreBackend } from './keystore-backend';
import type {
  AuditSink, CardKeyPlaintextPart, CardProfileKdfLabel, SessionKeyHandle, SymmetricKeyHandle, TransportKeyInfo, WrappedListKeys,
} from './keystore.types';
import { aesKcv, type KeyRegistry } from './key-registry';

// What the OTAC card profile (docs/card-profile.md) needs beyond the generic keystore calls, so
// personalisation, secure messaging and list envelopes run on handles: the vendor transport
// key of blank cards, the profile's KDF, and plaintexts that carry a card key.

const EPHEMERAL = { persistent: false, extractable: true } as const;
const KDF_LABELS: ReadonlySet<string> = new Set<CardProfileKdfLabel>([
  'OTAC SM ENC', 'OTAC SM MAC', 'OTAC SM RMAC', 'OTAC list ENC', 'OTAC list MAC', 'OTAC receipt', 'OTAC challenge',
]);
const TRANSPORT_LABEL = 'OTAC transport';
const CARD_ID_LENGTH = 8;

/** Profile 1.2: KDF(K, label, context) = CMAC(K, [1]_32 || label || 00 || context || [128]_32). */
export function cardProfileKdfInput(label: string, context: Uint8Array): CounterKdfInput {
  return { counterBits: 32, lengthBits: 128, after: Buffer.concat([Buffer.from(label, 'ascii'), Buffer.from([0]), context, Buffer.from([0, 0, 0, 128])]) };
}

export class CardProfileKeyService {
  /** Transport keys and the SM encryption keys made from card or transport keys: see encryptWithCardKeys. */
  private readonly transportIds = new Set<string>();
  private readonly smEncIds = new Set<string>();

  constructor(
    private readonly backend: KeystoreBackend,
    private readonly registry: KeyRegistry,
    private readonly cards: CardKeyService,
    private readonly audit: AuditSink,
  ) {}

  /** VTMK: development stock's well-known key in tests and training; production's from the vendor, at a ceremony. */
  async importTransportMasterKey(value: Uint8Array, opts: { officer: string; reason: string }): Promise<TransportKeyInfo> {
    if (value.length !== 16) throw new AppError('KEY_INVALID', "The vendor transport master key is AES-128 (16 bytes). Check the vendor's key sheet.");
    const ref = this.backend.importAes(Buffer.from(value), { persistent: true, extractable: false });
    const kcv = aesKcv(this.backend, ref);
    const rec = this.registry.add({ id: ref, purpose: 'transport', kcv, algorithm: 'AES-128', origin: 'imported' }, 'retired');
    await this.registry.commit();
    this.audit('keystore.transport_key.imported', { officer: opts.officer, reason: opts.reason, kcv, version: rec.version });
    return { kcv, version: rec.version };
  }

  transportKey(cardId: Uint8Array): SessionKeyHandle {
    if (cardId.length !== CARD_ID_LENGTH) throw new AppError('CARD_ID_INVALID', 'A card id is 8 bytes. Read the card again.');
    const vtmk = this.registry.active('transport');
    if (!vtmk) {
      throw new AppError('KEYSTORE_NO_TRANSPORT_KEY', "There is no vendor transport key, so blank cards cannot be opened. A security officer must import the card vendor's key.");
    }
    const kt = this.cards.adopt(this.backend.deriveAes(vtmk.id, cardProfileKdfInput(TRANSPORT_LABEL, cardId), EPHEMERAL));
    this.transportIds.add(kt.id);
    return kt;
  }

  deriveProfileKey(parent: SymmetricKeyHandle, label: CardProfileKdfLabel, context: Uint8Array): SessionKeyHandle {
    // Checked at run time as well: the label is what keeps these keys apart from card keys and each other.
    if (!KDF_LABELS.has(label)) throw new AppError('CRYPTO_BAD_INPUT', 'That derivation label is not part of the card profile.');
    const smKey = label.startsWith('OTAC SM ');
    if (smKey && parent.kind === 'session' && !this.transportIds.has(parent.id)) {
      throw new AppError('CRYPTO_BAD_INPUT', 'Secure-messaging keys come from a card key or a transport key only.');
    }
    const derived = this.cards.adopt(this.backend.deriveAes(this.cards.ref(parent), cardProfileKdfInput(label, context), EPHEMERAL));
    if (label === 'OTAC SM ENC') this.smEncIds.add(derived.id);
    return derived;
  }

  /**
   * The card key bytes are put in place here and wiped after encryption: the only way K reaches
   * a card at personalisation or K' at rotation. SoftHSM has no CKM_CONCATENATE_*, so on PKCS#11
   * the plaintext is put together in keystore memory too (docs/keystore.md). Only an S-ENC made
   * from a card or transport key may encrypt it: a session key whose bytes went out (wrapped
   * for a card's RSA key, say) would otherwise let its holder read K.
   */
  encryptWithCardKeys(key: SymmetricKeyHandle, iv: Uint8Array, parts: readonly CardKeyPlaintextPart[]): Buffer {
    if (iv.length !== 16) throw new AppError('CRYPTO_BAD_INPUT', 'The IV must be 16 bytes.');
    if (key.kind !== 'session' || !this.smEncIds.has(key.id)) {
      throw new AppError('CRYPTO_BAD_INPUT', 'Card keys are only encrypted under a secure-messaging session key. Open a secure session with the card.');
    }
    const target = this.cards.ref(key);
    const length = parts.reduce((n, part) => n + (part instanceof Uint8Array ? part.length : 16), 0);
    if (length % 16 !== 0) throw new AppError('CRYPTO_BAD_INPUT', 'Data must be padded to whole 16-byte blocks before encryption.');
    const plain = Buffer.alloc(length);
    let out: Buffer;
    try {
      let offset = 0;
      for (const part of parts) {
        if (part instanceof Uint8Array) plain.set(part, offset);
        else this.cards.withKeyBytes(part, (k) => k.copy(plain, offset));
        offset += part instanceof Uint8Array ? part.length : 16;
      }
      out = this.backend.aesCbc(target, 'encrypt', iv, plain);
    } finally {
      plain.fill(0);
    }
    for (const part of parts) {
      if (!(part instanceof Uint8Array)) this.audit('keystore.card_key.encrypted_for_card', { n: part.n, sn: part.sn, kcv: part.kcv });
    }
    return out;
  }

  /**
   * P is drawn in keystore memory and imported as two session keys: SoftHSM cannot split one
   * 32-byte key into two (no CKM_EXTRACT_KEY_FROM_KEY). RSA-OAEP is a public-key operation.
   */
  generateWrappedListKeys(cardPublicKeySpkiDer: Uint8Array): WrappedListKeys {
    let key;
    try {
      key = createPublicKey({ key: Buffer.from(cardPublicKeySpkiDer), format: 'der', type: 'spki' });
    } catch {
      throw new AppError('KEY_BAD_PUBLIC_KEY', 'The card public key could not be read. Read it from the card again.');
    }
    if (key.asymmetricKeyType !== 'rsa') throw new AppError('KEY_BAD_PUBLIC_KEY', 'The card public key is not an RSA key. Read it from the card again.');
    const p = randomBytes(32);
    try {
      const wrapped = publicEncrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, p);
      const enc = this.cards.adopt(this.backend.importAes(p.subarray(0, 16), EPHEMERAL));
      const mac = this.cards.adopt(this.backend.importAes(p.subarray(16), EPHEMERAL));
      return { enc, mac, wrapped };
    } finally {
      p.fill(0);
    }
  }
}
