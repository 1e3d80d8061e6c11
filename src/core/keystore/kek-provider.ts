import { randomBytes, scrypt as scryptCb, type ScryptOptions } from 'node:crypto';
import { AppError } from '../errors';

// Where the key-encryption key of the keystore file comes from. The file header stores
// the provider's public parameters; a later Electron safeStorage provider would store a
// sealed random KEK there instead of scrypt parameters.

export type KekParams = Readonly<Record<string, string | number>>;

export interface KekProvider {
  readonly kind: string;
  /** A KEK for a new file and the parameters to store in its header. */
  create(): Promise<{ kek: Buffer; params: KekParams }>;
  /** The KEK of an existing file, from its header parameters. */
  open(params: KekParams): Promise<Buffer>;
}

export interface ScryptCost {
  readonly N: number;
  readonly r: number;
  readonly p: number;
}

/** Production cost: 64 MiB, about 0.2 s on the branch machines. Tests may pass a cheaper one. */
export const DEFAULT_SCRYPT_COST: ScryptCost = { N: 2 ** 16, r: 8, p: 1 };

export class PassphraseKekProvider implements KekProvider {
  readonly kind = 'scrypt';
  constructor(
    private readonly passphrase: string,
    private readonly cost: ScryptCost = DEFAULT_SCRYPT_COST,
  ) {
    if (passphrase.length < 8) {
      throw new AppError(
        'KEYSTORE_PASSPHRASE_WEAK',
        'The keystore passphrase must have at least 8 characters. Choose a longer one.',
      );
    }
  }

  async create(): Promise<{ kek: Buffer; params: KekParams }> {
    const salt = randomBytes(16).toString('base64');
    const params = { kind: this.kind, salt, N: this.cost.N, r: this.cost.r, p: this.cost.p };
    return { kek: await this.open(params), params };
  }

  async open(params: KekParams): Promise<Buffer> {
    const { salt, N, r, p } = params;
    if (
      typeof salt !== 'string' ||
      typeof N !== 'number' ||
      typeof r !== 'number' ||
      typeof p !== 'number' ||
      N > 2 ** 20
    ) {
      throw new AppError(
        'KEYSTORE_TAMPERED',
        'The keystore file header is damaged. Restore the keystore from a backup.',
      );
    }
    return scrypt(this.passphrase.normalize('NFC'), Buffer.from(salt, 'base64'), {
      N,
      r,
      p,
      maxmem: 256 * N * r + 1024 * 1024,
    });
  }
}

function scrypt(password: string, salt: Buffer, opts: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scryptCb(password, salt, 32, opts, (err, key) => (err ? reject(err) : resolve(key)));
  });
}
