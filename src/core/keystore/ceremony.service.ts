import { kcvAes, xorComponents } from '../crypto/kcv';
import { AppError } from '../errors';
import type { AuditSink, CeremonyProgress, KeyCeremony, KeyInfo } from './keystore.types';

// Form-key-from-components: two or three custodians each enter their component on their own
// turn; each sees its KCV to compare with the sheet in their envelope. The master key is the
// XOR of all components, formed only at finish and handed straight to the backend.

const COMPONENT_HEX = /^[0-9a-fA-F]{64}$/;

export class CeremonyService implements KeyCeremony {
  private state: { components: 2 | 3; officer: string; entered: Map<number, Buffer> } | null = null;

  constructor(
    private readonly audit: AuditSink,
    private readonly install: (masterKey: Buffer, officer: string, expectedKcv?: string) => Promise<KeyInfo>,
  ) {}

  begin(opts: { components: 2 | 3; officer: string }): CeremonyProgress {
    if (opts.components !== 2 && opts.components !== 3) throw new AppError('CEREMONY_BAD_REQUEST', 'A ceremony uses 2 or 3 components.');
    this.abortQuietly();
    this.state = { components: opts.components, officer: opts.officer, entered: new Map() };
    this.audit('keystore.ceremony.begun', { components: opts.components, officer: opts.officer });
    return this.progressOrThrow();
  }

  enterComponent(index: number, hex: string, opts: { custodian: string; expectedKcv?: string }): { index: number; kcv: string } {
    const s = this.current();
    if (!Number.isInteger(index) || index < 1 || index > s.components) {
      throw new AppError('CEREMONY_BAD_REQUEST', `Component number must be 1 to ${s.components}.`);
    }
    const clean = hex.replace(/[\s-]/g, '');
    if (!COMPONENT_HEX.test(clean)) {
      throw new AppError('CEREMONY_COMPONENT_FORMAT', 'A component is 64 hexadecimal characters (32 bytes). Check the sheet and type it again.');
    }
    const value = Buffer.from(clean, 'hex');
    const kcv = kcvAes(value);
    if (opts.expectedKcv !== undefined && opts.expectedKcv.toUpperCase() !== kcv) {
      value.fill(0);
      this.audit('keystore.ceremony.component_rejected', { index, custodian: opts.custodian, kcv, reason: 'kcv_mismatch' });
      throw new AppError(
        'CEREMONY_KCV_MISMATCH',
        `Component ${index} does not match the check value on its sheet. The custodian should type it again; nothing was kept.`,
      );
    }
    if (value.every((b) => b === 0) || [...s.entered.entries()].some(([i, v]) => i !== index && v.equals(value))) {
      value.fill(0);
      throw new AppError('CEREMONY_COMPONENT_WEAK', `Component ${index} is all zeros or repeats another component. Use the component from its sealed sheet.`);
    }
    s.entered.get(index)?.fill(0);
    s.entered.set(index, value);
    this.audit('keystore.ceremony.component_entered', { index, custodian: opts.custodian, kcv });
    return { index, kcv };
  }

  async finish(opts: { expectedKcv?: string } = {}): Promise<KeyInfo> {
    const s = this.current();
    if (s.entered.size !== s.components) {
      throw new AppError('CEREMONY_INCOMPLETE', `${s.components - s.entered.size} component(s) still to be entered.`);
    }
    const mk = xorComponents([...s.entered.values()]);
    try {
      const info = await this.install(mk, s.officer, opts.expectedKcv);
      this.audit('keystore.ceremony.finished', { officer: s.officer, kcv: info.kcv, version: info.version });
      this.abortQuietly();
      return info;
    } finally {
      mk.fill(0);
    }
  }

  abort(): void {
    if (this.state) this.audit('keystore.ceremony.aborted', { officer: this.state.officer, entered: this.state.entered.size });
    this.abortQuietly();
  }

  progress(): CeremonyProgress | null {
    return this.state ? this.progressOrThrow() : null;
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
    for (const v of this.state?.entered.values() ?? []) v.fill(0);
    this.state = null;
  }
}
