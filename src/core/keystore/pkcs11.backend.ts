import { createHash, randomBytes } from 'node:crypto';
import * as pkcs11js from 'pkcs11js';
import { kdfCounter, type CounterKdfInput } from '../crypto/sp800-108';
import { AppError } from '../errors';
import type { KeyOptions, KeyRef, KeystoreBackend } from './keystore-backend';
import { Pkcs11Module } from './pkcs11-module';

// The same backend contract against a PKCS#11 token (SoftHSM2 in tests, a real HSM in a
// bank). Where SoftHSM lacks a mechanism the host fills in, as noted at each place:
// SP 800-108 runs as a loop of C_Sign(CKM_AES_CMAC) — so derived card keys pass through
// host memory once, on their way into a session object; ECDSA hashes in the host and signs
// with raw CKM_ECDSA. Nothing is wrapped out: AES keys are made with CKA_WRAP, CKA_UNWRAP and
// CKA_EXTRACTABLE all false.

const METADATA_LABEL = 'otac-keystore-metadata';
const AUDIT_ANCHOR_LABEL = 'otac-audit-anchor';
const P256_OID = Buffer.from('06082a8648ce3d030107', 'hex');
const P256_SPKI_PREFIX = Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex');

export interface Pkcs11BackendOptions {
  /** Path of the PKCS#11 library, e.g. /usr/lib/softhsm/libsofthsm2.so. */
  readonly library: string;
  /** Token label; slots are renumbered by SoftHSM, so the label is how we find it. */
  readonly tokenLabel: string;
  readonly pin: string;
}

export class Pkcs11Backend implements KeystoreBackend {
  readonly kind = 'pkcs11' as const;
  private module: Pkcs11Module | null = null;
  private session: pkcs11js.Handle | null = null;
  private readonly handles = new Map<KeyRef, pkcs11js.Handle>();
  private metadataGen = 0;
  private seq = 0;

  constructor(private readonly opts: Pkcs11BackendOptions) {}

  async open(): Promise<string | undefined> {
    this.module = Pkcs11Module.acquire(this.opts.library);
    const p = this.module.p11;
    const slot = p.C_GetSlotList(true).find((s) => p.C_GetTokenInfo(s).label.trim() === this.opts.tokenLabel);
    if (!slot) {
      await this.close();
      throw new AppError(
        'HSM_TOKEN_NOT_FOUND',
        `No token labelled "${this.opts.tokenLabel}" is present. Connect the HSM or check the keystore settings.`,
      );
    }
    this.session = p.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
    if (!this.login(this.session)) {
      await this.close();
      throw new AppError(
        'HSM_LOGIN_FAILED',
        'The HSM refused the PIN. Check the keystore PIN; repeated failures lock the token.',
      );
    }
    let best: { gen: number; metadata: string } | undefined;
    for (const h of this.find([
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_DATA },
      { type: pkcs11js.CKA_LABEL, value: METADATA_LABEL },
    ])) {
      const value = this.attr(h, pkcs11js.CKA_VALUE);
      const parsed = JSON.parse(value.toString('utf8')) as { gen: number; metadata: string };
      if (!best || parsed.gen > best.gen) best = parsed;
    }
    this.metadataGen = best?.gen ?? 0;
    return best?.metadata;
  }

  /**
   * PKCS#11 login is per application, not per session: while another keystore in this process
   * is logged in, C_Login answers "already logged in" without checking the PIN, so we compare
   * with the PIN that did log in.
   */
  private login(session: pkcs11js.Handle): boolean {
    const module = this.module;
    if (!module) return false;
    try {
      module.p11.C_Login(session, pkcs11js.CKU_USER, this.opts.pin);
      module.rememberLogin(this.opts.tokenLabel, this.opts.pin);
      return true;
    } catch (err) {
      const already = err instanceof pkcs11js.Pkcs11Error && err.code === pkcs11js.CKR_USER_ALREADY_LOGGED_IN;
      return already && module.sameLogin(this.opts.tokenLabel, this.opts.pin);
    }
  }

  /** Data objects are read-only once created: write the new generation, then drop the old ones. */
  async commit(metadata: string): Promise<void> {
    const s = this.s();
    const old = this.find([
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_DATA },
      { type: pkcs11js.CKA_LABEL, value: METADATA_LABEL },
    ]);
    const gen = this.metadataGen + 1;
    this.p().C_CreateObject(s, [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_DATA },
      { type: pkcs11js.CKA_TOKEN, value: true },
      { type: pkcs11js.CKA_PRIVATE, value: true },
      { type: pkcs11js.CKA_LABEL, value: METADATA_LABEL },
      { type: pkcs11js.CKA_VALUE, value: Buffer.from(JSON.stringify({ gen, metadata }), 'utf8') },
    ]);
    this.metadataGen = gen;
    for (const h of old) this.p().C_DestroyObject(s, h);
  }

  async close(): Promise<void> {
    if (this.module && this.session) {
      try {
        this.module.p11.C_CloseSession(this.session); // also destroys every session object
      } catch {
        // The token may already be gone; releasing the module below is what matters.
      }
    }
    this.session = null;
    this.handles.clear();
    this.module?.release();
    this.module = null;
  }

  generateAes(bytes: 16 | 32, opts: KeyOptions): KeyRef {
    const ref = this.newRef(opts);
    const h = this.p().C_GenerateKey(this.s(), { mechanism: pkcs11js.CKM_AES_KEY_GEN }, [
      ...this.aesTemplate(ref, opts),
      { type: pkcs11js.CKA_VALUE_LEN, value: bytes },
    ]);
    this.handles.set(ref, h);
    return ref;
  }

  importAes(value: Buffer, opts: KeyOptions): KeyRef {
    const ref = this.newRef(opts);
    this.handles.set(
      ref,
      this.p().C_CreateObject(this.s(), [...this.aesTemplate(ref, opts), { type: pkcs11js.CKA_VALUE, value }]),
    );
    return ref;
  }

  deriveAes(parent: KeyRef, input: CounterKdfInput, opts: KeyOptions): KeyRef {
    const bytes = this.deriveBytes(parent, input);
    try {
      return this.importAes(bytes, opts);
    } finally {
      bytes.fill(0);
    }
  }

  deriveBytes(parent: KeyRef, input: CounterKdfInput): Buffer {
    return kdfCounter((message) => this.cmac(parent, message), input);
  }

  destroy(ref: KeyRef): void {
    const h = this.handles.get(ref);
    if (h) this.p().C_DestroyObject(this.s(), h);
    this.handles.delete(ref);
  }

  checkBlock(ref: KeyRef): Buffer {
    this.p().C_EncryptInit(this.s(), { mechanism: pkcs11js.CKM_AES_ECB }, this.handle(ref));
    return this.p().C_Encrypt(this.s(), Buffer.alloc(16, 1), Buffer.alloc(16)).subarray(0, 3);
  }

  aesCbc(ref: KeyRef, op: 'encrypt' | 'decrypt', iv: Uint8Array, data: Uint8Array): Buffer {
    if (data.length === 0) return Buffer.alloc(0);
    const mech = { mechanism: pkcs11js.CKM_AES_CBC, parameter: Buffer.from(iv) };
    const p = this.p();
    if (op === 'encrypt') {
      p.C_EncryptInit(this.s(), mech, this.handle(ref));
      return Buffer.from(p.C_Encrypt(this.s(), Buffer.from(data), Buffer.alloc(data.length)));
    }
    p.C_DecryptInit(this.s(), mech, this.handle(ref));
    return Buffer.from(p.C_Decrypt(this.s(), Buffer.from(data), Buffer.alloc(data.length)));
  }

  cmac(ref: KeyRef, data: Uint8Array): Buffer {
    const p = this.p();
    p.C_SignInit(this.s(), { mechanism: pkcs11js.CKM_AES_CMAC }, this.handle(ref));
    // pkcs11js passes an empty buffer as NULL (CKR_ARGUMENTS_BAD); the empty message is SignFinal alone.
    if (data.length === 0) return Buffer.from(p.C_SignFinal(this.s(), Buffer.alloc(16)));
    return Buffer.from(p.C_Sign(this.s(), Buffer.from(data), Buffer.alloc(16)));
  }

  generateEcP256(opts: KeyOptions): { ref: KeyRef; spkiDer: Buffer } {
    const ref = this.newRef(opts);
    const p = this.p();
    const pair = p.C_GenerateKeyPair(
      this.s(),
      { mechanism: pkcs11js.CKM_EC_KEY_PAIR_GEN },
      [
        { type: pkcs11js.CKA_TOKEN, value: false },
        { type: pkcs11js.CKA_EC_PARAMS, value: P256_OID },
        { type: pkcs11js.CKA_VERIFY, value: true },
      ],
      [
        { type: pkcs11js.CKA_TOKEN, value: opts.persistent },
        { type: pkcs11js.CKA_PRIVATE, value: true },
        { type: pkcs11js.CKA_SENSITIVE, value: true },
        { type: pkcs11js.CKA_EXTRACTABLE, value: false },
        { type: pkcs11js.CKA_SIGN, value: true },
        { type: pkcs11js.CKA_ID, value: Buffer.from(ref) },
        { type: pkcs11js.CKA_LABEL, value: ref },
      ],
    );
    // CKA_EC_POINT is a DER OCTET STRING around 04 || X || Y.
    const point = this.attr(pair.publicKey, pkcs11js.CKA_EC_POINT).subarray(-65);
    p.C_DestroyObject(this.s(), pair.publicKey);
    this.handles.set(ref, pair.privateKey);
    return { ref, spkiDer: Buffer.concat([P256_SPKI_PREFIX, point]) };
  }

  ecdsaSign(ref: KeyRef, data: Uint8Array): Buffer {
    const digest = createHash('sha256').update(data).digest();
    this.p().C_SignInit(this.s(), { mechanism: pkcs11js.CKM_ECDSA }, this.handle(ref));
    return Buffer.from(this.p().C_Sign(this.s(), digest, Buffer.alloc(64)));
  }

  private aesTemplate(ref: KeyRef, opts: KeyOptions): pkcs11js.Template {
    return [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
      { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
      { type: pkcs11js.CKA_TOKEN, value: opts.persistent },
      { type: pkcs11js.CKA_PRIVATE, value: true },
      { type: pkcs11js.CKA_SENSITIVE, value: true },
      { type: pkcs11js.CKA_EXTRACTABLE, value: opts.extractable },
      { type: pkcs11js.CKA_ENCRYPT, value: true },
      { type: pkcs11js.CKA_DECRYPT, value: true },
      { type: pkcs11js.CKA_SIGN, value: true },
      { type: pkcs11js.CKA_VERIFY, value: true },
      // No use of any AES key needs C_WrapKey / C_UnwrapKey: the card profile puts K into an SM
      // plaintext by re-deriving it (SoftHSM has no CKM_CONCATENATE_*, docs/keystore.md).
      { type: pkcs11js.CKA_WRAP, value: false },
      { type: pkcs11js.CKA_UNWRAP, value: false },
      { type: pkcs11js.CKA_ID, value: Buffer.from(ref) },
      { type: pkcs11js.CKA_LABEL, value: ref },
    ];
  }

  private newRef(opts: KeyOptions): KeyRef {
    return opts.persistent ? `k-${randomBytes(6).toString('hex')}` : `e-${++this.seq}`;
  }

  private handle(ref: KeyRef): pkcs11js.Handle {
    const cached = this.handles.get(ref);
    if (cached) return cached;
    const [h] = ref.startsWith('k-') ? this.find([{ type: pkcs11js.CKA_ID, value: Buffer.from(ref) }]) : [];
    if (!h)
      throw new AppError(
        'KEY_NOT_FOUND',
        'The key is not on the HSM token (released or never created). Derive or create it again.',
      );
    this.handles.set(ref, h);
    return h;
  }

  private find(template: pkcs11js.Template): pkcs11js.Handle[] {
    const p = this.p();
    p.C_FindObjectsInit(this.s(), template);
    try {
      return p.C_FindObjects(this.s(), 1000);
    } finally {
      p.C_FindObjectsFinal(this.s());
    }
  }

  private attr(h: pkcs11js.Handle, type: number): Buffer {
    const [a] = this.p().C_GetAttributeValue(this.s(), h, [{ type }]);
    if (!a || !Buffer.isBuffer(a.value))
      throw new AppError('HSM_ERROR', 'The HSM returned an unexpected attribute. Check the token.');
    return a.value;
  }

  private p(): pkcs11js.PKCS11 {
    if (!this.module) throw new AppError('KEYSTORE_CLOSED', 'The keystore is not open. Unlock it first.');
    return this.module.p11;
  }

  private s(): pkcs11js.Handle {
    if (!this.session) throw new AppError('KEYSTORE_CLOSED', 'The keystore is not open. Unlock it first.');
    return this.session;
  }

  /**
   * The audit anchor is its own private token object (CKO_DATA, CKA_PRIVATE): only a session logged in
   * with the PIN reads or writes it, and it stays on the token when the database or host files change.
   * Written like the metadata: each generation a new object, then the older ones destroyed.
   */
  readAuditAnchor(): string | undefined {
    let best: { gen: number; anchor: string } | undefined;
    for (const h of this.find([
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_DATA },
      { type: pkcs11js.CKA_LABEL, value: AUDIT_ANCHOR_LABEL },
    ])) {
      const parsed = anchorObject(this.attr(h, pkcs11js.CKA_VALUE));
      if (!best || parsed.gen > best.gen) best = parsed;
    }
    return best?.anchor;
  }

  async writeAuditAnchor(value: string): Promise<void> {
    const s = this.s();
    const template = [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_DATA },
      { type: pkcs11js.CKA_LABEL, value: AUDIT_ANCHOR_LABEL },
    ];
    const old = this.find(template);
    const gen = 1 + Math.max(0, ...old.map((h) => anchorObject(this.attr(h, pkcs11js.CKA_VALUE)).gen));
    this.p().C_CreateObject(s, [
      ...template,
      { type: pkcs11js.CKA_TOKEN, value: true },
      { type: pkcs11js.CKA_PRIVATE, value: true },
      { type: pkcs11js.CKA_VALUE, value: Buffer.from(JSON.stringify({ gen, anchor: value }), 'utf8') },
    ]);
    for (const h of old) this.p().C_DestroyObject(s, h);
  }
}

function anchorObject(value: Buffer): { gen: number; anchor: string } {
  try {
    const parsed = JSON.parse(value.toString('utf8')) as { gen?: unknown; anchor?: unknown };
    if (typeof parsed.gen === 'number' && typeof parsed.anchor === 'string')
      return { gen: parsed.gen, anchor: parsed.anchor };
  } catch {
    // fall through: not ours, or damaged
  }
  throw new AppError(
    'KEYSTORE_TAMPERED',
    'The audit anchor on the HSM token is not in the expected form. Check the token with its vendor tools.',
  );
}
