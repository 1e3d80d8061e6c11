import { AppError } from '../../src/core/errors';
import type { ReissueGate } from '../../src/core/reissue/reissue-gate';

/**
 * A TEST gate standing in for the support case service (issue 11 items 1 and 2, another branch):
 * cases in memory, verified or refused as the test says. It records each call so tests can see
 * what the reissue asked. Never used outside tests.
 */
export class TestReissueGate implements ReissueGate {
  private readonly cases = new Map<
    number,
    { customerId: number; oldCardId: number; state: 'verified' | 'reissued' | 'refused'; newCardId?: number }
  >();
  readonly calls: string[] = [];
  /** The next markReissued dies like a process killed at that moment (not an AppError, nothing recorded). */
  dieAtNextMark = false;
  private next = 1;

  /** A case whose customer was verified out of band. */
  verified(customerId: number, oldCardId: number): number {
    const id = this.next++;
    this.cases.set(id, { customerId, oldCardId, state: 'verified' });
    return id;
  }

  /** A case the support service would refuse (identity not verified, locked out). */
  refused(customerId: number, oldCardId: number): number {
    const id = this.next++;
    this.cases.set(id, { customerId, oldCardId, state: 'refused' });
    return id;
  }

  stateOf(caseId: number): { state: string; newCardId?: number } | undefined {
    return this.cases.get(caseId);
  }

  async verifiedCase(caseId: number): Promise<{ customerId: number; oldCardId: number }> {
    this.calls.push(`verifiedCase ${caseId}`);
    const c = this.cases.get(caseId);
    if (!c || c.state !== 'verified')
      throw new AppError('CASE_NOT_VERIFIED', 'The customer has not been verified out of band (test gate).');
    return { customerId: c.customerId, oldCardId: c.oldCardId };
  }

  async markReissued(caseId: number, newCardId: number): Promise<void> {
    this.calls.push(`markReissued ${caseId} ${newCardId}`);
    if (this.dieAtNextMark) {
      this.dieAtNextMark = false;
      throw new Error('the workstation died here (test gate)');
    }
    const c = this.cases.get(caseId);
    if (!c || c.state !== 'verified') throw new AppError('CASE_NOT_VERIFIED', 'The case is not verified (test gate).');
    c.state = 'reissued';
    c.newCardId = newCardId;
  }
}
