import { createHash, timingSafeEqual } from 'node:crypto';
import * as pkcs11js from 'pkcs11js';

// One C_Initialize per library per process: PKCS#11 refuses a second one, and several
// keystores (or a test re-opening one) may share the library. Finalized with the last user.
const loaded = new Map<string, Pkcs11Module>();

export class Pkcs11Module {
  private users = 0;
  private readonly logins = new Map<string, Buffer>();
  private constructor(
    readonly p11: pkcs11js.PKCS11,
    private readonly library: string,
  ) {}

  static acquire(library: string): Pkcs11Module {
    let m = loaded.get(library);
    if (!m) {
      const p11 = new pkcs11js.PKCS11();
      p11.load(library);
      p11.C_Initialize();
      m = new Pkcs11Module(p11, library);
      loaded.set(library, m);
    }
    m.users++;
    return m;
  }

  /** Remembers (as a hash) the PIN that logged in to a token, for later sessions to compare. */
  rememberLogin(token: string, pin: string): void {
    this.logins.set(token, createHash('sha256').update(pin).digest());
  }

  sameLogin(token: string, pin: string): boolean {
    const known = this.logins.get(token);
    return known !== undefined && timingSafeEqual(known, createHash('sha256').update(pin).digest());
  }

  release(): void {
    if (--this.users > 0) return;
    this.logins.clear();
    loaded.delete(this.library);
    this.p11.C_Finalize();
    this.p11.close();
  }
}
