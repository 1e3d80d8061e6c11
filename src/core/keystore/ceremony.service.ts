import { kcvAes, xorComponents } from '../crypto/kcv';
import { AppError } from '../errors';
import type { AuditSink, CeremonyCustodian, CeremonyProgress, KeyCeremony, KeyInfo } from './keystore.types';

// Form-key-from-components: two or three custodians each enter their component on their own
// turn; each sees its KCV to compare with the sheet in their envelope. The master key is the
// XOR of all components, formed only at finish and handed straight to the backend.
// Split knowledge: each component is entered by a different security officer, identified by the
// credentials they typed with it (checked by the caller), and the audit names each of them.

type Entered = { value: Buffer; custodian: CeremonyCustodian };

const COMPONENT_HEX = /^[0-9a-fA-F]{64}$/;

export class CeremonyService implements KeyCeremony {
  private state: { components: 2 | 3; officer: string; entered: Map<number, Entered> } | null = null;

  constructor(
    private readonly audit: AuditSink,
    private readonly install: (masterKey: Buffer, officer: string, expectedKcv?: string) => Promise<KeyInfo>,
  ) {}

  begin(opts: { components: 2 | 3; officer: string }): CeremonyProgress {
    if (opts.components !== 2 && opts.components !== 3)
      throw new AppError('CEREMONY_BAD_REQUEST', 'A ceremony uses 2 or 3 components.');
    this.abortQuietly();
    this.state = { components: opts.components, officer: opts.officer, entered: new Map() };
    this.audit('keystore.ceremony.begun', { components: opts.components, officer: opts.officer });
    return this.progressOrThrow();
  }

  /** Refusals that need no custodian: no ceremony, or a component number outside it. */
  checkIndex(index: number): void {
    const s = this.current();
    if (!Number.isInteger(index) || index < 1 || index > s.components) {
      throw new AppError('CEREMONY_BAD_REQUEST', `Component number must be 1 to ${s.components}.`);
    }
  }

  enterComponent(
    index: number,
    hex: string,
    opts: { custodian: CeremonyCustodian; expectedKcv?: string },
  ): { index: number; kcv: string } {
    const s = this.current();
    this.checkIndex(index);
    const who = opts.custodian;
    this.checkCustodian(index, who);
    const clean = hex.replace(/[\s-]/g, '');
    if (!COMPONENT_HEX.test(clean)) {
      throw new AppError(
        'CEREMONY_COMPONENT_FORMAT',
        'A component is 64 hexadecimal characters (32 bytes). Check the sheet and type it again.',
      );
    }
    const value = Buffer.from(clean, 'hex');
    const kcv = kcvAes(value);
    if (opts.expectedKcv !== undefined && opts.expectedKcv.toUpperCase() !== kcv) {
      value.fill(0);
      this.audit('keystore.ceremony.component_rejected', { index, ...named(who), kcv, reason: 'kcv_mismatch' });
      throw new AppError(
        'CEREMONY_KCV_MISMATCH',
        `Component ${index} does not match the check value on its sheet. The custodian should type it again; nothing was kept.`,
      );
    }
    if (
      value.every((b) => b === 0) ||
      [...s.entered.entries()].some(([i, e]) => i !== index && e.value.equals(value))
    ) {
      value.fill(0);
      throw new AppError(
        'CEREMONY_COMPONENT_WEAK',
        `Component ${index} is all zeros or repeats another component. Use the component from its sealed sheet.`,
      );
    }
    s.entered.get(index)?.value.fill(0);
    s.entered.set(index, { value, custodian: who });
    this.audit('keystore.ceremony.component_entered', { index, ...named(who), kcv });
    return { index, kcv };
  }

  async finish(opts: { expectedKcv?: string } = {}): Promise<KeyInfo> {
    const s = this.current();
    if (s.entered.size !== s.components) {
      throw new AppError('CEREMONY_INCOMPLETE', `${s.components - s.entered.size} component(s) still to be entered.`);
    }
    const mk = xorComponents([...s.entered.values()].map((e) => e.value));
    const custodians = [...s.entered.entries()]
      .sort(([a], [b]) => a - b)
      .map(([, e]) => e.custodian.username)
      .join(',');
    try {
      const info = await this.install(mk, s.officer, opts.expectedKcv);
      this.audit('keystore.ceremony.finished', {
        officer: s.officer,
        custodians,
        kcv: info.kcv,
        version: info.version,
      });
      this.abortQuietly();
      return info;
    } finally {
      mk.fill(0);
    }
  }

  abort(): void {
    if (this.state)
      this.audit('keystore.ceremony.aborted', { officer: this.state.officer, entered: this.state.entered.size });
    this.abortQuietly();
  }

  progress(): CeremonyProgress | null {
    return this.state ? this.progressOrThrow() : null;
  }

  /**
   * A security officer on a password of their own, who has entered no other component; a component
   * already entered may be typed again only by its own custodian. Refusals are audited.
   */
  private checkCustodian(index: number, who: CeremonyCustodian): void {
    const s = this.current();
    const refuse = (reason: string, err: AppError): never => {
      this.audit('keystore.ceremony.component_rejected', { index, ...named(who), reason });
      throw err;
    };
    if (who.role !== 'security_officer') {
      refuse(
        'custodian_role',
        new AppError(
          'CEREMONY_CUSTODIAN_ROLE',
          `${who.username} is not a security officer. Only security officers hold ceremony components; nothing was kept.`,
        ),
      );
    }
    if (who.temporaryPassword) {
      refuse(
        'custodian_temporary_password',
        new AppError(
          'CEREMONY_CUSTODIAN_TEMPORARY',
          `${who.username} still has a temporary password. They sign in and choose their own password first; nothing was kept.`,
        ),
      );
    }
    for (const [i, e] of s.entered) {
      if (i !== index && e.custodian.operatorId === who.operatorId) {
        refuse(
          'custodian_repeated',
          new AppError(
            'CEREMONY_CUSTODIAN_REPEATED',
            `${who.username} already entered component ${i}. Each component is entered by a different custodian; nothing was kept.`,
          ),
        );
      }
      if (i === index && e.custodian.operatorId !== who.operatorId) {
        refuse(
          'component_taken',
          new AppError(
            'CEREMONY_COMPONENT_TAKEN',
            `Component ${index} was entered by ${e.custodian.username}; only they can enter it again. Abort the ceremony to start over; nothing was kept.`,
          ),
        );
      }
    }
  }

  private progressOrThrow(): CeremonyProgress {
    const s = this.current();
    return { components: s.components, entered: [...s.entered.keys()].sort() };
  }

  private current() {
    if (!this.state) throw new AppError('CEREMONY_NOT_STARTED', 'No key ceremony is in progress. Begin one first.');
    return this.state;
  }

  private abortQuietly(): void {
    for (const e of this.state?.entered.values() ?? []) e.value.fill(0);
    this.state = null;
  }
}

/** The audit names the custodian by operator id and user name, never by anything they typed. */
function named(who: CeremonyCustodian): { custodianId: number; custodian: string } {
  return { custodianId: who.operatorId, custodian: who.username };
}
