import { kcvAes, xorComponents } from '../crypto/kcv';
import { AppError } from '../errors';
import type { AuditSink, CeremonyCustodian, CeremonyProgress, KeyCeremony, KeyInfo } from './keystore.types';

// Form-key-from-components: two or three custodians each enter their component on their own
// turn; each sees its KCV to compare with the sheet in their envelope. The master key is the
// XOR of all components, formed only at finish and handed straight to the backend.
// Split knowledge: each component is entered by a different security officer, identified by the
// credentials they typed with it (checked by the caller), and the audit names each of them.

// The same steps form the card vendor's transport master key (VTMK, AES-128) from the vendor's
// component sheets: a second instance with its own kind, state and audit actions, so a master-key
// ceremony and a transport-key import never mix components.

type Entered = { value: Buffer; custodian: CeremonyCustodian };

/** What a ceremony forms: its key length, its audit actions and how its messages name it. */
export interface CeremonyKind {
  /** Audit action prefix: `keystore.ceremony` or `keystore.transport_ceremony`. */
  readonly audit: string;
  readonly keyBytes: 16 | 32;
  /** Capitalised, for messages: "Key ceremony", "Transport key ceremony". */
  readonly name: string;
  /**
   * A running ceremony refuses a new begin (the transport key: two officers must not overwrite each
   * other's components) instead of being replaced by it (the master-key wizard starting over).
   */
  readonly exclusive: boolean;
  /** The combined key's check value must be given at finish (a vendor sheet always carries it). */
  readonly finalKcvRequired: boolean;
}

export const MASTER_KEY_CEREMONY: CeremonyKind = {
  audit: 'keystore.ceremony',
  keyBytes: 32,
  name: 'Key ceremony',
  exclusive: false,
  finalKcvRequired: false,
};

export const TRANSPORT_KEY_CEREMONY: CeremonyKind = {
  audit: 'keystore.transport_ceremony',
  keyBytes: 16,
  name: 'Transport key ceremony',
  exclusive: true,
  finalKcvRequired: true,
};

/** Who began the ceremony, and the second officer who approved that (dual control). */
export interface CeremonyOpening {
  readonly officer: string;
  readonly approver?: string;
}

type State = { components: 2 | 3; officer: string; approver?: string; entered: Map<number, Entered> };

export class CeremonyService<R extends { kcv: string; version: number } = KeyInfo> implements KeyCeremony<R> {
  private state: State | null = null;
  /** Set synchronously while finish installs the key, so a second finish cannot install it twice. */
  private finishing = false;

  constructor(
    private readonly audit: AuditSink,
    private readonly install: (key: Buffer, by: CeremonyOpening, expectedKcv?: string) => Promise<R>,
    private readonly kind: CeremonyKind = MASTER_KEY_CEREMONY,
  ) {}

  /** A begin that would be refused (finishing, or a running exclusive ceremony) is refused here, before anyone approves. */
  checkBegin(): void {
    this.checkNotFinishing();
    if (this.kind.exclusive && this.state) {
      throw new AppError(
        'CEREMONY_IN_PROGRESS',
        `A ${this.kind.name.toLowerCase()} begun by ${this.state.officer} is in progress. Finish it, or abort it on the Keys page first; nothing was changed.`,
      );
    }
  }

  begin(opts: { components: 2 | 3; officer: string; approver?: string }): CeremonyProgress {
    if (opts.components !== 2 && opts.components !== 3)
      throw new AppError('CEREMONY_BAD_REQUEST', 'A ceremony uses 2 or 3 components.');
    this.checkBegin();
    this.abortQuietly();
    this.state = {
      components: opts.components,
      officer: opts.officer,
      ...(opts.approver ? { approver: opts.approver } : {}),
      entered: new Map(),
    };
    this.audit(`${this.kind.audit}.begun`, {
      components: opts.components,
      officer: opts.officer,
      ...(opts.approver ? { approvedBy: opts.approver } : {}),
    });
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
    this.checkNotFinishing();
    const who = opts.custodian;
    this.checkCustodian(index, who);
    const clean = typeof hex === 'string' ? hex.replace(/[\s-]/g, '') : '';
    const digits = this.kind.keyBytes * 2;
    if (clean.length !== digits || !/^[0-9a-fA-F]+$/.test(clean)) {
      throw new AppError(
        'CEREMONY_COMPONENT_FORMAT',
        `A component is ${digits} hexadecimal characters (${this.kind.keyBytes} bytes). Check the sheet and type it again; nothing was kept.`,
      );
    }
    const value = Buffer.from(clean, 'hex');
    const kcv = kcvAes(value);
    if (opts.expectedKcv !== undefined && opts.expectedKcv.toUpperCase() !== kcv) {
      value.fill(0);
      this.audit(`${this.kind.audit}.component_rejected`, { index, ...named(who), kcv, reason: 'kcv_mismatch' });
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
    this.audit(`${this.kind.audit}.component_entered`, { index, ...named(who), kcv });
    return { index, kcv };
  }

  async finish(opts: { expectedKcv?: string } = {}): Promise<R> {
    const s = this.current();
    this.checkNotFinishing();
    if (s.entered.size !== s.components) {
      throw new AppError('CEREMONY_INCOMPLETE', `${s.components - s.entered.size} component(s) still to be entered.`);
    }
    if (this.kind.finalKcvRequired && !opts.expectedKcv) {
      throw new AppError(
        'CEREMONY_KCV_REQUIRED',
        "Type the key's check value from the vendor's sheet: the key is stored only when it matches.",
      );
    }
    const key = xorComponents([...s.entered.values()].map((e) => e.value));
    const custodians = [...s.entered.entries()]
      .sort(([a], [b]) => a - b)
      .map(([, e]) => e.custodian.username)
      .join(',');
    this.finishing = true;
    try {
      const by = { officer: s.officer, ...(s.approver ? { approver: s.approver } : {}) };
      const info = await this.install(key, by, opts.expectedKcv);
      this.audit(`${this.kind.audit}.finished`, {
        officer: s.officer,
        custodians,
        kcv: info.kcv,
        version: info.version,
      });
      this.abortQuietly();
      return info;
    } finally {
      this.finishing = false;
      key.fill(0);
    }
  }

  abort(): void {
    if (this.state)
      this.audit(`${this.kind.audit}.aborted`, { officer: this.state.officer, entered: this.state.entered.size });
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
      this.audit(`${this.kind.audit}.component_rejected`, { index, ...named(who), reason });
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

  private current(): State {
    if (!this.state)
      throw new AppError('CEREMONY_NOT_STARTED', `No ${this.kind.name.toLowerCase()} is in progress. Begin one first.`);
    return this.state;
  }

  private checkNotFinishing(): void {
    if (this.finishing)
      throw new AppError(
        'CEREMONY_BUSY',
        `The ${this.kind.name.toLowerCase()} is being finished right now. Wait for it, then look at the Keys page.`,
      );
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
