import { AppError } from '../errors';

// The support case (issue 11 items 1 and 2) decides whether a reissue may happen: the card was
// reported and the customer's identity was verified out of band. The reissue asks it through this
// gate and tells it when the new card exists. The case service implements it; the composition root
// hands it to reissueModule.

export interface ReissueGate {
  /** The case's customer and old card once identity was verified out of band; throws AppError otherwise. */
  verifiedCase(caseId: number): Promise<{ customerId: number; oldCardId: number }>;
  /** Marks the case reissued with the new card (compare-and-set from 'verified'; throws when not verified or already reissued). */
  markReissued(caseId: number, newCardId: number): Promise<void>;
}

/**
 * The gate of a desk without the support case service: no case is ever verified, so no card is
 * reissued. The composition root replaces it with the case service.
 */
export const NO_CASES_GATE: ReissueGate = {
  verifiedCase: () => Promise.reject(noCaseService()),
  markReissued: () => Promise.reject(noCaseService()),
};

function noCaseService(): AppError {
  return new AppError(
    'REISSUE_NO_CASE_SERVICE',
    'This desk has no support case service, so no case can be verified for a reissue. Report the card and verify the customer on a desk that has it.',
  );
}
